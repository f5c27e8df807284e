/* mpi-np: 8 */
/* test_mesh_3d_tied: mesh equivalence (tests/mpi/mesh_equiv.h) of the tied tiny-mesh model (L5 H8
 * K4 V300: odd layer splits, vocab padding; T 32, mbs 2) on the 8-rank meshes dp2·tp2·pp2 and
 * dp2·pp2·cp2, with and without ZeRO-1. */
#include "mesh_equiv.h"

static const Case CASES[] = {
    /* dp tp pp cp engine zero tied acc T mbs note */
    {2, 2, 2, 1, "afab", 0, 1, 2, 0, 0, NULL},
    {2, 2, 2, 1, "1f1b", 1, 1, 2, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 0, 1, 4, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 1, 1, 2, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    return mesh_equiv_main(argc, argv, "test_mesh_3d_tied", CASES,
                           (int)(sizeof CASES / sizeof *CASES));
}

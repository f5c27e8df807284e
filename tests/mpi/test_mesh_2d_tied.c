/* mpi-np: 8 */
/* test_mesh_2d_tied: mesh equivalence (tests/mpi/mesh_equiv.h) of the tied tiny-mesh model (L5 H8
 * K4 V300: odd layer splits, vocab padding; T 32, mbs 2) on the two-dimensional meshes dp2·tp2,
 * tp2·pp2, dp2·pp2 (each dp mesh also with ZeRO-1), pp2·cp2, tp2·cp2. */
#include "mesh_equiv.h"

static const Case CASES[] = {
    /* dp tp pp cp engine zero tied acc T mbs note */
    {2, 2, 1, 1, "1f1b", 0, 1, 2, 0, 0, NULL},
    {2, 2, 1, 1, "1f1b", 1, 1, 1, 0, 0, NULL},
    {1, 2, 2, 1, "afab", 0, 1, 4, 0, 0, NULL},
    {2, 1, 2, 1, "1f1b", 0, 1, 4, 0, 0, NULL},
    {2, 1, 2, 1, "1f1b", 1, 1, 2, 0, 0, NULL},
    {1, 1, 2, 2, "1f1b", 0, 1, 4, 0, 0, NULL},
    {1, 2, 1, 2, "1f1b", 0, 1, 2, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    return mesh_equiv_main(argc, argv, "test_mesh_2d_tied", CASES,
                           (int)(sizeof CASES / sizeof *CASES));
}

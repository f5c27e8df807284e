/* mpi-np: 8 */
/* test_mesh_1d_tied: mesh equivalence (tests/mpi/mesh_equiv.h) of the tied tiny-mesh model (L5 H8
 * K4 V300: odd layer splits, vocab padding; T 32, mbs 2) on the one-dimensional meshes dp2 (and
 * ZeRO-1), tp2, tp4, pp2 (AFAB and 1F1B), pp4, cp2, cp4 (and pp4 with fewer micro-batches than
 * stages). */
#include "mesh_equiv.h"

static const Case CASES[] = {
    /* dp tp pp cp engine zero tied acc T mbs note */
    {2, 1, 1, 1, "1f1b", 0, 1, 2, 0, 0, NULL},
    {2, 1, 1, 1, "1f1b", 1, 1, 4, 0, 0, NULL},
    {1, 2, 1, 1, "1f1b", 0, 1, 2, 0, 0, NULL},
    {1, 4, 1, 1, "1f1b", 0, 1, 1, 0, 0, NULL},
    {1, 1, 2, 1, "afab", 0, 1, 2, 0, 0, NULL},
    {1, 1, 2, 1, "1f1b", 0, 1, 4, 0, 0, NULL},
    {1, 1, 4, 1, "1f1b", 0, 1, 2, 0, 0, NULL},  /* fewer micro-batches than stages */
    {1, 1, 1, 2, "1f1b", 0, 1, 2, 0, 0, NULL},
    {1, 1, 1, 4, "1f1b", 0, 1, 1, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    return mesh_equiv_main(argc, argv, "test_mesh_1d_tied", CASES,
                           (int)(sizeof CASES / sizeof *CASES));
}

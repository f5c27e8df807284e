/* mpi-np: 8 */
/* test_mesh_3d: mesh equivalence (tests/mpi/mesh_equiv.h) on the 8-rank meshes dp2·tp2·pp2 and
 * dp2·pp2·cp2, with and without ZeRO-1; tiny-mesh untied and tied. */
#include "mesh_equiv.h"

static const Case CASES[] = {
    /* dp tp pp cp engine zero tied acc */
    {2, 2, 2, 1, "1f1b", 0, 0, 2, 0, 0, NULL},
    {2, 2, 2, 1, "1f1b", 1, 0, 4, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 0, 0, 2, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 1, 0, 1, 0, 0, NULL},

    {2, 2, 2, 1, "afab", 0, 1, 2, 0, 0, NULL},
    {2, 2, 2, 1, "1f1b", 1, 1, 2, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 0, 1, 4, 0, 0, NULL},
    {2, 1, 2, 2, "1f1b", 1, 1, 2, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    return mesh_equiv_main(argc, argv, "test_mesh_3d", CASES, (int)(sizeof CASES / sizeof *CASES));
}

/* mpi-np: 8 */
/* test_mesh_large: mesh equivalence (tests/mpi/mesh_equiv.h) with point-to-point messages above
 * Open MPI's eager limits (64 KiB is the largest common one: TCP; shared memory's is 4 KiB), so
 * that a schedule depending on eager delivery (blocking sends in a cycle) would deadlock and
 * time out here. T 128, mbs 8 (T 512 would make attention cost most of the launch), tiny-mesh
 * (C 64, K 4 kv-heads of D 8):
 *   pp2:     each activation / activation-gradient message is B·T·C floats
 *            = 8·128·64·4 B = 256 KiB;
 *   cp2:     the ring passes K|V blocks of 2·B·(T/cp)·K·D floats = 2·8·64·4·8·4 B = 128 KiB
 *            forward and K|V|dK|dV blocks of 256 KiB backward.
 * Both share one single-process reference (untied, G 8, T 128), which keeps the launch short. */
#include "mesh_equiv.h"

static const Case CASES[] = {
    /* dp tp pp cp engine zero tied acc  T   mbs */
    {1, 1, 2, 1, "1f1b", 0, 0, 1, 128, 8, "(p2p 256 KiB)"},
    {1, 1, 1, 2, "1f1b", 0, 0, 1, 128, 8, "(ring 128/256 KiB)"},
};

int main(int argc, char **argv)
{
    return mesh_equiv_main(argc, argv, "test_mesh_large", CASES,
                           (int)(sizeof CASES / sizeof *CASES));
}

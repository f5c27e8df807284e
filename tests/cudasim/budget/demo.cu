/* demo: a kernel for the check-cuda-budget test (tests/cudasim/test_check_budget.sh), with its
 * ptxas output captured by `nvcc -arch=sm_90 -O3 -Xptxas -v` in ok/ and, built with
 * -maxrregcount=16 so that ptxas spills, in spill/. */
// budget: demo_kernel regs<=40 smem<=1024

__global__ void demo_kernel(float *out, const float *x, int n)
{
    __shared__ float s[256];
    float r[24];
    for (int i = 0; i < 24; i++)
        r[i] = x[(threadIdx.x + i * 7) % n];
    s[threadIdx.x] = 0.0f;
    __syncthreads();
    float acc = 0.0f;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 24; i++)
            acc += r[i] * r[(i + k) % 24] + s[(i + k) % 256];
    out[threadIdx.x] = acc;
}

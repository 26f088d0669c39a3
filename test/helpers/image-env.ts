/**
 * The allocator settings the image (Dockerfile) and the chart give the gateway's process: one malloc
 * arena, and each scrypt's 16 MiB in a mapping of its own, returned when the hash ends. The image and
 * chart tests check both still set them; bench:memory and bench:overload run the gateway with them.
 */
export const IMAGE_ALLOCATOR_ENV = {
  MALLOC_ARENA_MAX: '1',
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1',
} as const;

/**
 * Flags the image's command (and the chart's) gives `node`: a young generation of at most 2 × 8 MB.
 * V8 otherwise sizes it from the memory it sees: 2 × 16 MB on a large node (its pages stay resident
 * once a burst of requests touched them) and 2 × 1 MB under a 512 MiB limit, where requests cost
 * about a quarter more CPU. 8 MB measured no dearer in CPU than 16. And garbage collection on the
 * event loop's thread alone: V8's helper threads cost more CPU than they save the loop, and their
 * pauses were longer, on a replica's few cores (docs/operations.md, Memory and CPU). The benches
 * run the gateway with these flags unless told otherwise (bench/lib/gateway.ts).
 */
export const IMAGE_NODE_FLAGS = ['--max-semi-space-size=8', '--single-threaded-gc'] as const;

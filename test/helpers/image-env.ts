/**
 * The allocator settings the image (Dockerfile) and the chart give the gateway's process: two malloc
 * arenas, and each scrypt's 16 MiB in a mapping of its own, returned when the hash ends. The image and
 * chart tests check both still set them; bench:memory and bench:overload run the gateway with them.
 */
export const IMAGE_ALLOCATOR_ENV = {
  MALLOC_ARENA_MAX: '2',
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1',
} as const;

// memory_read.h: a streaming read of a large buffer, to measure memory read bandwidth.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/threads.h"

namespace pyggml {

// Reads every byte of data (n bytes) once, split over the pool's threads, each thread
// reading its part as `streams` sequential streams side by side (as the matvec kernels
// read several rows or row groups at once); returns a checksum so the reads cannot be
// optimised away.
uint64_t memory_read(const void* data, size_t n, thread_pool& pool, int streams = 1);

}  // namespace pyggml

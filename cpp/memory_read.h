// memory_read.h: a streaming read of a large buffer, to measure memory read bandwidth.
#pragma once

#include <cstddef>
#include <cstdint>

#include "thread_pool.h"

namespace pyggml {

// Reads every byte of data (n bytes) once, split over the pool's threads; returns a
// checksum so the reads cannot be optimised away.
uint64_t memory_read(const void* data, size_t n, thread_pool& pool);

}  // namespace pyggml

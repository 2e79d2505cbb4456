// SPDX-License-Identifier: MIT
// Kernel uapi constants that liburing 2.3 (Debian 12) lacks, and the run-time feature probe.
// Values from linux/io_uring.h; see shared/notes/io_uring-on-debian12.md.
#pragma once

#include <liburing.h>

#include <cstdint>

#ifndef IORING_FEAT_RECVSEND_BUNDLE
#    define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_RECVSEND_BUNDLE
#    define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_CQE_F_BUF_MORE
#    define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
#ifndef IOU_PBUF_RING_INC
#    define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_ASYNC_CANCEL_USERDATA
#    define IORING_ASYNC_CANCEL_USERDATA (1U << 4)
#endif

namespace ringlb::core {

/// What the running kernel accepted when a ring was set up.
struct RingFeatures {
    bool single_issuer = false;    // IORING_SETUP_SINGLE_ISSUER (6.0)
    bool defer_taskrun = false;    // IORING_SETUP_DEFER_TASKRUN (6.1)
    bool coop_taskrun = false;     // IORING_SETUP_COOP_TASKRUN (5.19), the fallback
    bool recvsend_bundle = false;  // IORING_FEAT_RECVSEND_BUNDLE (6.10)
    bool buffer_ring = false;      // a provided-buffer ring registered (5.19)
    bool bundles = false;          // recv bundles in use: the kernel has them, DEFER_TASKRUN is
                                   // on (BufferRing::bundle_bid) and options allow them
    bool incremental = false;      // the buffer ring is consumed incrementally (IOU_PBUF_RING_INC,
                                   // 6.12): the kernel has it, DEFER_TASKRUN is on, options allow
    bool restricted = false;       // IORING_REGISTER_RESTRICTIONS applied (5.10)
    std::uint32_t kernel_features = 0;
};

}  // namespace ringlb::core

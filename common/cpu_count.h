// How many CPUs this process may run on, for sizing thread pools.
//
// std::thread::hardware_concurrency() counts the machine's CPUs. A process
// confined to fewer (a container's cpuset, taskset, a scheduler's
// affinity) would start one thread per CPU it cannot use, and those
// threads then take turns on the few it can. Every pool that sizes itself
// by default asks here instead.
//
// Thread-safe: reads the calling thread's affinity mask each call.
#ifndef FNPROBE_COMMON_CPU_COUNT_H_
#define FNPROBE_COMMON_CPU_COUNT_H_

namespace fnprobe {

// The CPUs in this thread's affinity mask (inherited by the threads it
// starts); hardware_concurrency() where the mask cannot be read; at
// least 1.
int AvailableCpus();

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_CPU_COUNT_H_

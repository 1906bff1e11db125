// The file operations of the activation store are common/env.h's Env (one
// Env for every durable write); this name stays for the store's callers.
// ActivationFileSystem::Default() is Env::Default(), the POSIX Env.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_

#include "common/env.h"

namespace fnprobe {

using ActivationFileSystem = Env;

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_

// fnprobe: the command-line client of fnprobe-worker (see client/cli.h).
#include <iostream>

#include "client/cli.h"
#include "client/environment.h"

int main(int argc, char** argv) {
  fnprobe::client::Cli cli(fnprobe::client::Environment::FromProcess(),
                           std::cout, std::cerr);
  return cli.Run(argc, argv);
}

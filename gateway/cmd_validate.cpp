// `inloop validate FILE|-`: placeholder until the validator lands (issue 2).
#include <ostream>

#include "gateway/commands.h"

namespace inloop::gateway {

int cmdValidate(CommandContext& ctx) {
  ctx.err << "inloop validate: not built yet\n";
  return 3;
}

}  // namespace inloop::gateway

module Dekbox
  VERSION = "0.1.0"
end

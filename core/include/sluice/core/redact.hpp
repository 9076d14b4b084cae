// Removing secret values from text before it is shown: log lines, diagnostics, `validate` output,
// dead-letter reasons. One redactor for all of them (docs/pipeline.md, "Secrets").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// A secret at least this long is hidden wherever it occurs, inside longer words too. A shorter
// one is hidden only where it stands alone as a token (no letter, digit or '_' right before or
// after it): hiding every 'x' of a one-letter password would turn "expected" into "e***pected"
// and still tell a reader that the password is 'x'. `validate` warns about such secrets.
inline constexpr size_t kMinSubstringSecret = 8;

// Hides every occurrence of every non-empty secret (see kMinSubstringSecret) and every base64
// word whose decoded text holds one (an `Authorization: Basic` value, a SASL PLAIN message).
// Each run of hidden characters becomes one "***"; no piece of a secret survives, even where
// two occurrences overlap.
std::string redact(std::string_view text, const std::vector<std::string>& secrets);

// Text logs are one record per line: control characters (C0, DEL, C1) in text a peer wrote
// become visible escapes (\n, \r, \t, \xHH, \u0085) so that it cannot forge a second record.
std::string escape_controls(std::string_view text);

}  // namespace sluice::core

#include "pipeline_schema.hpp"

#include <sluice/units.hpp>

namespace sluice::core::config {

namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["sources", "sinks", "routes"],
  "properties": {
    "version": {"type": "integer", "enum": [1]},
    "log": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "level": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"]},
        "format": {"type": "string", "enum": ["text", "json"]},
        "components": {
          "type": "object",
          "additionalProperties": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"]}
        }
      }
    },
    "plugins": {
      "type": "object",
      "additionalProperties": false,
      "properties": {"path": {"$ref": "#/definitions/strings"}}
    },
    "shutdown": {
      "type": "object",
      "additionalProperties": false,
      "properties": {"drain_timeout": {"$ref": "#/definitions/duration"}}
    },
    "state_dir": {"type": "string", "minLength": 1},
    "metrics": {
      "type": "object",
      "additionalProperties": false,
      "properties": {"interval": {"$ref": "#/definitions/duration"}}
    },
    "admin": {
      "type": "object",
      "additionalProperties": false,
      "required": ["listen"],
      "properties": {
        "listen": {"type": "string", "minLength": 1},
        "allow_remote": {"type": "boolean"},
        "token": {"type": "string", "minLength": 1, "writeOnly": true}
      }
    },
    "sources": {
      "type": "object",
      "additionalProperties": {"$ref": "#/definitions/source"}
    },
    "sinks": {
      "type": "object",
      "additionalProperties": {"$ref": "#/definitions/sink"}
    },
    "routes": {"type": "array", "items": {"$ref": "#/definitions/route"}}
  },
  "definitions": {
    "duration": @DURATION@,
    "size": @SIZE@,
    "strings": {"type": ["string", "array"], "items": {"type": "string"}},
    "names": {"type": ["string", "array"], "items": {"type": "string"}, "minItems": 1},
    "plugin": {"type": "string", "minLength": 1},
    "source": {
      "type": "object",
      "additionalProperties": false,
      "required": ["plugin"],
      "properties": {
        "plugin": {"$ref": "#/definitions/plugin"},
        "options": {"type": "object"}
      }
    },
    "sink": {
      "type": "object",
      "additionalProperties": false,
      "required": ["plugin"],
      "properties": {
        "plugin": {"$ref": "#/definitions/plugin"},
        "options": {"type": "object"},
        "queue": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "max_events": {"type": "integer", "minimum": 1},
            "max_bytes": {"$ref": "#/definitions/size"},
            "policy": {"type": "string", "enum": ["block", "drop_newest", "drop_oldest", "spool"]}
          }
        },
        "batch": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "max_events": {"type": "integer", "minimum": 1},
            "max_bytes": {"$ref": "#/definitions/size"},
            "max_delay": {"$ref": "#/definitions/duration"}
          }
        },
        "retry": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "initial": {"$ref": "#/definitions/duration"},
            "max": {"$ref": "#/definitions/duration"},
            "multiplier": {"type": "number", "minimum": 1},
            "jitter": {"type": "string", "enum": ["full", "half"]},
            "max_attempts": {"type": "integer", "minimum": 0},
            "max_elapsed": {"$ref": "#/definitions/duration"}
          }
        },
        "spool": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "directory": {"type": "string", "minLength": 1},
            "max_bytes": {"$ref": "#/definitions/size"},
            "fsync": {"type": "string", "enum": ["never", "batch", "interval"]},
            "fsync_interval": {"$ref": "#/definitions/duration"},
            "segment_bytes": {"$ref": "#/definitions/size"},
            "overflow": {"type": "string", "enum": ["drop_newest", "drop_oldest", "block"]}
          }
        },
        "dead_letter": {
          "type": "object",
          "additionalProperties": false,
          "properties": {"path": {"type": "string", "minLength": 1}}
        }
      }
    },
    "route": {
      "type": "object",
      "additionalProperties": false,
      "required": ["from", "to"],
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "from": {"$ref": "#/definitions/names"},
        "filter": {
          "description": "which events pass: type, source, subject, attributes, data, all, any, not (checked by the filter compiler, core/src/filter.cpp, for messages at the right place)",
          "type": "object"
        },
        "to": {"$ref": "#/definitions/names"}
      }
    }
  }
})json";

nlohmann::json build() {
  // Names are checked by the loader, not with patternProperties: valijson 1.0 stops checking an
  // object's other pattern-matched properties after the first one fails.
  std::string text = kSchema;
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  };
  // Units are the SDK's, so the pipeline and every plugin accept the same spellings; negative
  // plain numbers make no sense for either.
  nlohmann::json duration = nlohmann::json::parse(sluice::kDurationSchema);
  duration["minimum"] = 0;
  nlohmann::json size = nlohmann::json::parse(sluice::kSizeSchema);
  size["minimum"] = 0;
  replace_all("@DURATION@", duration.dump());
  replace_all("@SIZE@", size.dump());
  return nlohmann::json::parse(text);
}

}  // namespace

bool valid_name(const std::string& name) {
  if (name.empty() || name[0] == '-' || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

const nlohmann::json& pipeline_schema() {
  static const nlohmann::json schema = build();
  return schema;
}

}  // namespace sluice::core::config

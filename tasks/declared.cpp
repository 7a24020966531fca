#include "tasks/declared.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "tasks/command.hpp"
#include "tasks/http_task.hpp"
#include "tasks/schema.hpp"

namespace tasker {

namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& at, const std::string& why) {
  throw std::runtime_error(at + " " + why);
}

/// A name as clients write it in `type`: letters, digits, `_`, `-`, `.`;
/// starting with a letter; at most 64 characters.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalpha(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
           || c == '.';
  });
}

std::optional<int64_t> int_in(const json& entry, const char* key,
                              const std::string& at, int64_t lo, int64_t hi) {
  auto i = entry.find(key);
  if (i == entry.end())
    return std::nullopt;
  if (!i->is_number_integer() || i->get<int64_t>() < lo
      || i->get<int64_t>() > hi
      || (i->is_number_unsigned() && i->get<uint64_t>() > uint64_t(hi)))
    refuse(at + "." + key, "must be an integer between " + std::to_string(lo)
                             + " and " + std::to_string(hi));
  return i->get<int64_t>();
}

void add_one(registry& reg, const json& entry, const std::string& at) {
  if (!entry.is_object())
    refuse(at, "must be an object");
  static const char* known[] = {"name",       "description",  "params",
                                "timeout_ms", "max_attempts", "run",
                                "command",    "http"};
  for (auto& [key, val] : entry.items())
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      refuse(at + "." + key, "is not a field of a task type (fields: name, "
                             "description, params, timeout_ms, max_attempts, "
                             "run, command, http)");
  auto name = entry.value("name", json{});
  if (!name.is_string() || !valid_name(name.get<std::string>()))
    refuse(at + ".name", "must be a name of letters, digits, '_', '-' and "
                         "'.' that starts with a letter, at most 64 long");
  if (reg.find(name.get<std::string>()) != nullptr)
    refuse(at + ".name", "'" + name.get<std::string>()
                           + "' is a task type already");
  auto description = entry.value("description", json(""));
  if (!description.is_string())
    refuse(at + ".description", "must be a string");
  auto run = entry.value("run", json{});
  if (run != "pull" && run != "command" && run != "http")
    refuse(at + ".run", "must be \"pull\" (HTTP workers lease its tasks), "
                        "\"command\" (worker nodes run a program) or "
                        "\"http\" (worker nodes POST it to a URL)");
  for (auto kind : {"command", "http"})
    if ((run == kind) != entry.contains(kind))
      refuse(at + "." + kind, std::string{"is what a type with \"run\": \""}
                                + kind + "\" runs, and only such a type has "
                                         "one");
  auto params = entry.value("params", json::object());
  task_type t;
  t.name = name.get<std::string>();
  t.description = description.get<std::string>();
  try {
    t.params = params_spec::declared(params, at + ".params");
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  t.runs = run.get<std::string>();
  if (run == "command") {
    std::shared_ptr<const command_spec> spec;
    try {
      spec = std::make_shared<const command_spec>(
        parse_command_spec(entry["command"], at + ".command"));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
    t.run = [spec, name = t.name](const json& params, const task_context& ctx) {
      return run_command(*spec, name, params, ctx);
    };
  } else if (run == "http") {
    std::shared_ptr<http_runner> runner;
    try {
      runner = std::make_shared<http_runner>(
        parse_http_spec(entry["http"], at + ".http"));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
    t.run = [runner, name = t.name](const json& params,
                                    const task_context& ctx) {
      return runner->run(name, params, ctx);
    };
  }
  t.timeout_ms = int_in(entry, "timeout_ms", at, 1, 86400000);
  if (auto n = int_in(entry, "max_attempts", at, 1, 100))
    t.max_attempts = static_cast<int32_t>(*n);
  reg.add(std::move(t));
}

} // namespace

void add_declared_types(registry& reg, const json& file,
                        const std::string& where) {
  auto types = file.is_object() ? file.find("task_types") : file.end();
  if (!file.is_object() || types == file.end() || !types->is_array()
      || file.size() != 1)
    refuse(where, "must be a JSON object with one field, task_types: an "
                  "array of task types");
  for (size_t i = 0; i < types->size(); ++i)
    add_one(reg, (*types)[i],
            where + ": task_types[" + std::to_string(i) + "]");
}

void add_declared_types(registry& reg, const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    refuse("task types file " + path, "cannot be read");
  std::string text;
  text.resize(max_task_types_file_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_task_types_file_bytes)
    refuse("task types file " + path,
           "is larger than " + std::to_string(max_task_types_file_bytes)
             + " bytes");
  json file;
  try {
    file = json::parse(text);
  } catch (const json::exception& e) {
    refuse("task types file " + path, std::string{"is not JSON: "} + e.what());
  }
  add_declared_types(reg, file, "task types file " + path);
}

} // namespace tasker

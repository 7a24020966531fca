// Tests of the OpenAPI document (GET /openapi.json) against the route table,
// the error codes and the task type registry: a route, an error code or a
// task type the document leaves out fails here. (tests/openapi/lint.sh lints
// the document a real server serves.)
#define CAF_SUITE gateway.docs

#include "gateway/docs.hpp"

#include "tests/fixture.hpp"

#include <map>
#include <regex>
#include <set>

#include "gateway/routes.hpp"
#include "messages/error.hpp"

using namespace tasker;
using nlohmann::json;

namespace {

const char* methods[] = {"get", "post", "put", "delete", "patch", "head",
                         "options", "trace"};

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// A path of the document with each `{name}` replaced by `x`, and the same
/// with each replaced by `{}` (to compare with a route's pattern).
std::pair<std::string, std::string> instantiate(const std::string& path) {
  static const std::regex param{"\\{[^}/]*\\}"};
  return {std::regex_replace(path, param, "x"),
          std::regex_replace(path, param, "{}")};
}

/// Every `$ref` in `js` (appended to `out`).
void collect_refs(const json& js, std::vector<std::string>& out) {
  if (js.is_object()) {
    for (auto& [key, val] : js.items()) {
      if (key == "$ref" && val.is_string())
        out.push_back(val.get<std::string>());
      else
        collect_refs(val, out);
    }
  } else if (js.is_array()) {
    for (auto& x : js)
      collect_refs(x, out);
  }
}

/// The value a local reference (`#/components/...`) points at, or null.
const json* resolve(const json& doc, const std::string& ref) {
  if (ref.rfind("#/", 0) != 0)
    return nullptr;
  const json* at = &doc;
  size_t from = 2;
  for (;;) {
    auto to = ref.find('/', from);
    auto key = ref.substr(from, to == std::string::npos ? to : to - from);
    if (!at->is_object() || !at->contains(key))
      return nullptr;
    at = &(*at)[key];
    if (to == std::string::npos)
      return at;
    from = to + 1;
  }
}

registry test_registry() {
  auto reg = builtin_registry(task_limits{});
  // Names a C++ registration may give (a declared type's name is
  // [A-Za-z][A-Za-z0-9_.-]*): characters a component name cannot hold,
  // and names that become the same once those are replaced.
  for (auto name : {"a b", "a/b", "a_b", "a_b-2", "x~y", "caf\xc3\xa9", ""}) {
    task_type t;
    t.name = name;
    t.description = "test type";
    reg.add(std::move(t));
  }
  return reg;
}

} // namespace

CAF_TEST(the document has every route of the route table) {
  auto doc = json::parse(openapi_json(builtin_registry(task_limits{})));
  CAF_REQUIRE(doc["paths"].is_object());
  std::set<route_kind> documented;
  std::set<std::string> operation_ids;
  for (auto& [path, item] : doc["paths"].items()) {
    auto [concrete, shape] = instantiate(path);
    for (auto method : methods) {
      if (!item.contains(method))
        continue;
      CAF_MESSAGE(upper(method) << " " << path);
      auto r = match_route(upper(method), concrete);
      CAF_CHECK(r.kind != route_kind::not_found
                && r.kind != route_kind::method_not_allowed);
      // The path is the route's pattern, whatever its parameters' names.
      CAF_CHECK_EQUAL(instantiate(r.label).second, shape);
      documented.insert(r.kind);
      auto& op = item[method];
      CAF_CHECK(op.contains("summary"));
      CAF_CHECK(operation_ids.insert(op.value("operationId", "")).second);
      // Security as `authorized` decides: the open routes need no token,
      // the HTTP workers' need the worker token, the others the client's.
      bool open = authorized(upper(method), concrete, "",
                             credentials{"client-token"});
      if (open) {
        CAF_CHECK_EQUAL(op.value("security", json()).dump(), "[]");
        CAF_CHECK(!op["responses"].contains("401"));
      } else {
        CAF_CHECK(op["responses"].contains("401"));
        auto security = op.value("security", doc["security"]);
        CAF_CHECK_EQUAL(security.dump(),
                        worker_route(r.kind) ? R"([{"workerToken":[]}])"
                                             : R"([{"clientToken":[]}])");
      }
      // Every route may answer 400, 408, 413, 500 and 503.
      for (auto status : {"400", "408", "413", "500", "503"})
        CAF_CHECK(op["responses"].contains(status));
    }
  }
  // Each route kind has an operation; the fault-injection route (only with
  // `fault_injection`) is left out. (not_found and method_not_allowed end
  // the enum.)
  for (int i = 0; i < static_cast<int>(route_kind::not_found); ++i) {
    auto kind = static_cast<route_kind>(i);
    if (kind == route_kind::crash)
      continue;
    if (documented.count(kind) == 0)
      CAF_FAIL("route_kind " << i << " (gateway/routes.hpp) has no "
               "operation in the document (gateway/docs.cpp)");
  }
  CAF_CHECK_EQUAL(documented.count(route_kind::crash), 0u);
}

CAF_TEST(the document names every error code) {
  auto doc = json::parse(openapi_json(builtin_registry(task_limits{})));
  auto& error = doc["components"]["schemas"]["Error"];
  auto codes = error["properties"]["error"]["properties"]["code"]["enum"];
  CAF_REQUIRE(codes.is_array());
  for (int i = 1; i <= static_cast<int>(ec::request_timeout); ++i) {
    auto name = to_string(static_cast<ec>(i));
    CAF_MESSAGE(name);
    CAF_CHECK(std::find(codes.begin(), codes.end(), name) != codes.end());
  }
  // Each named error response has an example of its own status.
  for (auto& [name, res] : doc["components"]["responses"].items()) {
    auto& media = res["content"]["application/json"];
    CAF_CHECK_EQUAL(media["schema"].value("$ref", ""),
                    "#/components/schemas/Error");
    auto code = media["example"]["error"]["code"].get<std::string>();
    CAF_CHECK(std::find(codes.begin(), codes.end(), code) != codes.end());
  }
}

CAF_TEST(each task type has its submission schema) {
  auto reg = test_registry();
  auto doc = json::parse(openapi_json(reg));
  auto& schemas = doc["components"]["schemas"];
  auto& submission = schemas["Submission"];
  CAF_CHECK_EQUAL(submission["discriminator"].value("propertyName", ""),
                  "type");
  auto& mapping = submission["discriminator"]["mapping"];
  CAF_CHECK_EQUAL(submission["oneOf"].size(), reg.names().size());
  CAF_CHECK_EQUAL(mapping.size(), reg.names().size());
  static const std::regex component{"^[a-zA-Z0-9._-]+$"};
  std::set<std::string> targets;
  for (auto& t : reg.describe()) {
    auto type = t["type"].get<std::string>();
    CAF_MESSAGE("type '" << type << "'");
    CAF_REQUIRE(mapping.contains(type));
    auto target = mapping[type].get<std::string>();
    CAF_CHECK(targets.insert(target).second);
    const std::string prefix = "#/components/schemas/";
    CAF_REQUIRE_EQUAL(target.substr(0, prefix.size()), prefix);
    auto name = target.substr(prefix.size());
    CAF_CHECK(std::regex_match(name, component));
    CAF_REQUIRE(schemas.contains(name));
    auto& sub = schemas[name];
    CAF_CHECK_EQUAL(sub["properties"]["type"].value("const", ""), type);
    auto params = t["params_schema"];
    params.erase("$schema");
    CAF_CHECK_EQUAL(sub["properties"]["params"].dump(), params.dump());
    CAF_CHECK_EQUAL(sub["allOf"][0].value("$ref", ""),
                    "#/components/schemas/SubmissionCommon");
    CAF_CHECK(std::find(submission["oneOf"].begin(), submission["oneOf"].end(),
                        json{{"$ref", target}})
              != submission["oneOf"].end());
  }
  // Every component name is one a component may have.
  for (auto& [kind, group] : doc["components"].items())
    for (auto& item : group.items())
      CAF_CHECK(std::regex_match(item.key(), component));
}

CAF_TEST(every reference of the document resolves) {
  auto doc = json::parse(openapi_json(test_registry()));
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  for (auto& x : doc["components"]["schemas"]["Submission"]["discriminator"]
                    ["mapping"])
    refs.push_back(x.get<std::string>());
  CAF_CHECK(!refs.empty());
  for (auto& ref : refs)
    if (resolve(doc, ref) == nullptr)
      CAF_FAIL("unresolved reference " << ref);
}

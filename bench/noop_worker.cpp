// No-op counterparts of tasker for benchmarks, in C++: an HTTP pull worker, or the endpoint of
// an HTTP task type.
//
// As a worker (--url), each of --sessions threads opens an HTTP worker session (POST /v1/workers/sessions) on its
// own keep-alive connection, then loops: it leases up to --slots tasks with a long poll, and
// completes every leased task with {"result": {}}, the completions pipelined on the
// connection (written together, answers read in order). It stops on SIGTERM or SIGINT, or
// after --max-seconds: it completes what it holds, drains its session (DELETE) and prints one
// JSON line: {"completed": N, "refused": N}.
//
// As an endpoint (--serve), it listens on 127.0.0.1 (port 0: any free one, printed on the first
// line of stdout), answers every request 200 {} on keep-alive connections, one thread each,
// and stops on SIGTERM or SIGINT or after --max-seconds.
//
// Build: g++ -O2 -std=c++17 -pthread -o noop_worker bench/noop_worker.cpp (Boost.Beast,
// nlohmann_json, header-only). bench/declared.py runs it beside the other kinds of task.
//
//   noop_worker --url http://127.0.0.1:PORT [--type noop_pull] [--sessions 2] [--slots 64]
//               [--token T] [--max-seconds 600]
//   noop_worker --serve PORT [--max-seconds 600]

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <sys/socket.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string type = "noop_pull";
  std::string token;
  int sessions = 2;
  int slots = 64;
  int max_seconds = 600;
};

std::atomic<uint64_t> g_completed{0};
std::atomic<uint64_t> g_refused{0};

/// One keep-alive connection to the gateway.
class connection {
public:
  connection(const options& opt) : opt_(opt), socket_(io_) {
    asio::ip::tcp::resolver resolver(io_);
    asio::connect(socket_, resolver.resolve(opt.host, opt.port));
    socket_.set_option(asio::ip::tcp::no_delay(true));
  }

  http::request<http::string_body> make(http::verb verb, const std::string& target,
                                        std::string body = {}) const {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, opt_.host);
    if (!opt_.token.empty())
      req.set(http::field::authorization, "Bearer " + opt_.token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.prepare_payload();
    return req;
  }

  /// Writes every request in one go, then reads their answers in order.
  std::vector<http::response<http::string_body>>
  pipeline(std::vector<http::request<http::string_body>>& reqs) {
    std::string out;
    for (auto& r : reqs) {
      std::ostringstream os;
      os << r;
      out += os.str();
    }
    asio::write(socket_, asio::buffer(out));
    std::vector<http::response<http::string_body>> answers(reqs.size());
    for (auto& a : answers)
      http::read(socket_, buffer_, a);
    return answers;
  }

  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         std::string body = {}) {
    std::vector<http::request<http::string_body>> one;
    one.push_back(make(verb, target, std::move(body)));
    return std::move(pipeline(one).front());
  }

private:
  const options& opt_;
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
};

/// Completes each leased task; returns how many were leased.
size_t complete_all(connection& conn, const json& tasks) {
  std::vector<http::request<http::string_body>> reqs;
  for (auto& t : tasks)
    reqs.push_back(conn.make(http::verb::post,
                             "/v1/leases/" + t.at("lease").get<std::string>() + "/complete",
                             R"({"result":{}})"));
  if (reqs.empty())
    return 0;
  for (auto& a : conn.pipeline(reqs)) {
    if (a.result() == http::status::ok)
      ++g_completed;
    else
      ++g_refused;
  }
  return reqs.size();
}

void run_session(const options& opt, int index, std::chrono::steady_clock::time_point until) {
  try {
    connection conn(opt);
    json open = {{"name", "bench-cpp-" + std::to_string(index)},
                 {"task_types", {opt.type}},
                 {"slots", opt.slots}};
    auto created = conn.call(http::verb::post, "/v1/workers/sessions", open.dump());
    if (created.result() != http::status::created) {
      fprintf(stderr, "noop_worker: session refused: %d %s\n", created.result_int(),
              created.body().c_str());
      return;
    }
    auto sid = json::parse(created.body()).at("session").get<std::string>();
    auto lease_target = "/v1/workers/sessions/" + sid + "/lease";
    json ask = {{"max_tasks", opt.slots}, {"wait_ms", 1000}};
    auto ask_text = ask.dump();
    bool draining = false;
    while (!draining && !g_stop && std::chrono::steady_clock::now() < until) {
      auto answer = conn.call(http::verb::post, lease_target, ask_text);
      if (answer.result() != http::status::ok) {
        fprintf(stderr, "noop_worker: lease refused: %d %s\n", answer.result_int(),
                answer.body().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      auto js = json::parse(answer.body());
      draining = js.value("draining", false);
      complete_all(conn, js.at("tasks"));
    }
    // Every lease it took is completed: the session drains and closes.
    conn.call(http::verb::delete_, "/v1/workers/sessions/" + sid);
  } catch (const std::exception& e) {
    fprintf(stderr, "noop_worker: session %d: %s\n", index, e.what());
  }
}

/// Answers every request on one connection 200 {} until the client closes.
void serve_connection(asio::ip::tcp::socket socket) {
  try {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      http::read(socket, buffer, req);
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(req.keep_alive());
      res.body() = "{}";
      res.prepare_payload();
      http::write(socket, res);
      if (!req.keep_alive())
        return;
    }
  } catch (const std::exception&) {
    // (The client closed.)
  }
}

int serve(const std::string& port, std::chrono::steady_clock::time_point until) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(
    io, {asio::ip::make_address("127.0.0.1"),
         static_cast<unsigned short>(atoi(port.c_str()))});
  printf("%u\n", acceptor.local_endpoint().port());
  fflush(stdout);
  // A watchdog closes the acceptor on a stop; connections end with their clients.
  std::thread([&] {
    while (!g_stop && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
  }).detach();
  for (;;) {
    boost::system::error_code err;
    asio::ip::tcp::socket socket(io);
    acceptor.accept(socket, err);
    if (err || g_stop || std::chrono::steady_clock::now() >= until)
      break;
    socket.set_option(asio::ip::tcp::no_delay(true));
    std::thread(serve_connection, std::move(socket)).detach();
  }
  return 0;
}

int usage() {
  fprintf(stderr, "usage: noop_worker --url http://HOST:PORT [--type T] [--sessions N] "
                  "[--slots K] [--token T] [--max-seconds S]\n"
                  "       noop_worker --serve PORT [--max-seconds S]\n");
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  std::string serve_port;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      return usage();
    std::string v = argv[++i];
    if (a == "--url") {
      auto rest = v.rfind("http://", 0) == 0 ? v.substr(7) : v;
      auto colon = rest.find(':');
      if (colon == std::string::npos)
        return usage();
      opt.host = rest.substr(0, colon);
      opt.port = rest.substr(colon + 1);
      while (!opt.port.empty() && opt.port.back() == '/')
        opt.port.pop_back();
    } else if (a == "--serve") {
      serve_port = v;
    } else if (a == "--type") {
      opt.type = v;
    } else if (a == "--sessions") {
      opt.sessions = std::max(1, atoi(v.c_str()));
    } else if (a == "--slots") {
      opt.slots = std::max(1, std::min(1000, atoi(v.c_str())));
    } else if (a == "--token") {
      opt.token = v;
    } else if (a == "--max-seconds") {
      opt.max_seconds = std::max(1, atoi(v.c_str()));
    } else {
      return usage();
    }
  }
  signal(SIGTERM, on_stop_signal);
  signal(SIGINT, on_stop_signal);
  signal(SIGPIPE, SIG_IGN);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(opt.max_seconds);
  if (!serve_port.empty())
    return serve(serve_port, until);
  std::vector<std::thread> threads;
  for (int i = 0; i < opt.sessions; ++i)
    threads.emplace_back(run_session, std::cref(opt), i, until);
  for (auto& t : threads)
    t.join();
  printf("{\"completed\": %llu, \"refused\": %llu}\n",
         static_cast<unsigned long long>(g_completed.load()),
         static_cast<unsigned long long>(g_refused.load()));
  return 0;
}

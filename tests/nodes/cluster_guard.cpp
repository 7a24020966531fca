// The pure pieces of the cluster port's exchange (nodes/cluster_guard.hpp):
// what the coordinator sends, what a node answers, what the coordinator
// accepts. The guard's sockets and thread are covered by tests/e2e.
#define CAF_SUITE nodes.cluster_guard

#include "nodes/cluster_guard.hpp"

#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <cstring>
#include <string>

using namespace tasker;
using namespace tasker::cluster_handshake;

namespace {

/// The nonce 0, 1, ..., 31.
challenge counting_challenge() {
  uint8_t nonce[nonce_size];
  for (size_t i = 0; i < nonce_size; ++i)
    nonce[i] = static_cast<uint8_t>(i);
  return make_challenge(nonce);
}

std::string hex(const uint8_t* bytes, size_t n) {
  std::string out;
  char buf[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

} // namespace

CAF_TEST(the exchange has the sizes the protocol names) {
  CAF_CHECK_EQUAL(magic_size, 16u);
  CAF_CHECK_EQUAL(challenge_size, 48u);
  CAF_CHECK_EQUAL(response_size, 48u);
  CAF_CHECK_EQUAL(std::string(mac_label), "tasker-join");
}

CAF_TEST(a challenge is the magic then the nonce) {
  auto c = counting_challenge();
  CAF_CHECK_EQUAL(std::string(reinterpret_cast<const char*>(c.data()), 16),
                  "tasker-cluster/1");
  for (size_t i = 0; i < nonce_size; ++i)
    CAF_CHECK_EQUAL(c[magic_size + i], i);
}

CAF_TEST(random challenges differ in their nonce only) {
  challenge a, b;
  CAF_REQUIRE(random_challenge(a));
  CAF_REQUIRE(random_challenge(b));
  CAF_CHECK(std::memcmp(a.data(), magic, magic_size) == 0);
  CAF_CHECK(std::memcmp(b.data(), magic, magic_size) == 0);
  CAF_CHECK(std::memcmp(a.data() + magic_size, b.data() + magic_size,
                        nonce_size)
            != 0);
}

CAF_TEST(the MAC is HMAC-SHA256 of the label and the nonce) {
  // python3: hmac.new(b"e2e-cluster-secret", b"tasker-join" + bytes(range(32)),
  //                   hashlib.sha256).hexdigest()
  auto c = counting_challenge();
  auto m = mac("e2e-cluster-secret", c.data() + magic_size);
  CAF_CHECK_EQUAL(hex(m.data(), m.size()),
                  "9bf6dbb293bb1a63c1332d5a4f95fcd5"
                  "d2ecc86e98aa235ef72563033d534085");
}

CAF_TEST(the right secret is accepted) {
  auto c = counting_challenge();
  response r;
  CAF_REQUIRE(answer("s3cret", c, r));
  CAF_CHECK(std::memcmp(r.data(), magic, magic_size) == 0);
  CAF_CHECK(verify("s3cret", c, r));
}

CAF_TEST(a wrong secret or another challenge is refused) {
  auto c = counting_challenge();
  response r;
  CAF_REQUIRE(answer("not-the-secret", c, r));
  CAF_CHECK(!verify("s3cret", c, r));
  // An answer to another nonce (a replay) does not pass.
  challenge other;
  CAF_REQUIRE(random_challenge(other));
  CAF_REQUIRE(answer("s3cret", other, r));
  CAF_CHECK(!verify("s3cret", c, r));
  // Nor does a MAC with one bit flipped.
  CAF_REQUIRE(answer("s3cret", c, r));
  r[response_size - 1] ^= 0x01;
  CAF_CHECK(!verify("s3cret", c, r));
}

CAF_TEST(without a secret every response is refused) {
  auto c = counting_challenge();
  response r;
  CAF_REQUIRE(answer("", c, r));
  CAF_CHECK(!verify("", c, r));
}

CAF_TEST(a response without the magic is refused) {
  auto c = counting_challenge();
  response r;
  CAF_REQUIRE(answer("s3cret", c, r));
  r[0] = 'T';
  CAF_CHECK(!verify("s3cret", c, r));
}

CAF_TEST(a node answers no challenge without the magic) {
  auto c = counting_challenge();
  c[15] = '2'; // tasker-cluster/2: another version
  response r;
  CAF_CHECK(!answer("s3cret", c, r));
}

CAF_TEST(the magic check works on partial input) {
  auto m = reinterpret_cast<const uint8_t*>(magic);
  CAF_CHECK(starts_with_magic(m, 0));
  CAF_CHECK(starts_with_magic(m, 1));
  CAF_CHECK(starts_with_magic(m, 16));
  const uint8_t partial[] = {'t', 'a', 's', 'k'};
  CAF_CHECK(starts_with_magic(partial, sizeof(partial)));
  // The first byte of a BASP header (client handshake: 0x01) is not 't'.
  const uint8_t basp[32] = {0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  CAF_CHECK(!starts_with_magic(basp, 1));
  CAF_CHECK(!starts_with_magic(basp, sizeof(basp)));
  const uint8_t near[] = {'t', 'a', 's', 'k', 'e', 'r', '-', 'x'};
  CAF_CHECK(!starts_with_magic(near, sizeof(near)));
}

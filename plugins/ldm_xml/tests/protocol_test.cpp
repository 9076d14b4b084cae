// ldm_protocol: requests the client writes, responses and features it reads.
#include <doctest/doctest.h>

#include "ldm_examples.hpp"
#include "ldm_protocol.hpp"

using namespace sluice::ldm;

TEST_CASE("a registration request has the documented shape") {
  CHECK(interface_request("reg-domain-events") ==
        "<LDM_interface version=\"1.0\"><cmd><action>reg-domain-events</action>"
        "<data version=\"3.0\"/></cmd></LDM_interface>");
  CHECK(request_action(interface_request("unreg-all-events")) == "unreg-all-events");
  CHECK(request_action(ldm_examples::kRegistrationRequest) == "reg-domain-events");
}

TEST_CASE("SASL PLAIN carries base64(NUL user NUL password)") {
  CHECK(sasl_plain_auth("admin", "s3cret") ==
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='PLAIN'>AGFkbWluAHMzY3JldA==</auth>");
  std::string decoded;
  REQUIRE(base64_decode("AGFkbWluAHMzY3JldA==", decoded));
  CHECK(decoded == std::string("\0admin\0s3cret", 13));
  CHECK(base64_encode("a") == "YQ==");
  CHECK(base64_encode("ab") == "YWI=");
  CHECK(base64_encode("abc") == "YWJj");
  CHECK_FALSE(base64_decode("**", decoded));
}

TEST_CASE("features: starttls and SASL mechanisms") {
  Features tls = parse_features(ldm_examples::kFeaturesStartTls);
  CHECK(tls.parsed);
  CHECK(tls.starttls);
  CHECK(tls.mechanisms.empty());
  Features sasl = parse_features(ldm_examples::kFeaturesSasl);
  CHECK_FALSE(sasl.starttls);
  CHECK(sasl.offers("PLAIN"));
  CHECK_FALSE(parse_features("<proceed/>").parsed);
  CHECK(parse_features("<stream:features/>").parsed);
}

TEST_CASE("a success response at all three levels is success") {
  Response r = parse_response(ldm_examples::kRegistrationResponse);
  CHECK(r.parsed);
  CHECK(r.action == "reg-domain-events");
  CHECK(r.success);
  CHECK(r.messages.empty());
}

TEST_CASE("a failure at any level is failure, with every resp_msg text") {
  Response r = parse_response(ldm_examples::kRegistrationFailure);
  CHECK(r.parsed);
  CHECK(r.action == "reg-hardware-events");
  CHECK_FALSE(r.success);
  CHECK(r.messages ==
        std::vector<std::string>{"Permission denied", "Registration for hardware events failed"});
  std::string only_inner = ldm_examples::kRegistrationResponse;
  only_inner.replace(only_inner.find("success"), 7, "failure");
  CHECK_FALSE(parse_response(only_inner).success);
}

TEST_CASE("the response as printed in the guide (<data/> then </data>) is not readable") {
  Response r = parse_response(ldm_examples::kRegistrationResponseAsPrinted);
  CHECK_FALSE(r.parsed);
  CHECK_FALSE(r.success);
  CHECK(r.error == "response is not well-formed XML");
}

TEST_CASE("a response without any status is not success") {
  Response r =
      parse_response("<LDM_interface><cmd><action>reg-all-events</action></cmd></LDM_interface>");
  CHECK(r.parsed);
  CHECK_FALSE(r.success);
  CHECK(r.error == "response carries no <status>");
}

TEST_CASE("element_summary keeps the text and the condition names of a stream error") {
  CHECK(element_summary("<stream:error><text>shutting down</text></stream:error>") ==
        "shutting down");
  CHECK(element_summary(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>") ==
        "not-authorized");
  CHECK(element_summary("<stream:error><system-shutdown xmlns='x'/><text xmlns='y'>going "
                        "down</text></stream:error>") == "system-shutdown going down");
}

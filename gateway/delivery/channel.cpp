#include "gateway/delivery/channel.h"

#include <utility>

#include "gateway/base/clock.h"
#include "gateway/transport/capabilities.h"
#include "gateway/transport/http_client.h"
#include "gateway/transport/ndjson_dir_sender.h"
#include "gateway/transport/outbound_auth.h"

namespace inloop::gateway {

namespace {

using fhir::ErrorCode;
using mappings::DestinationKind;

class HttpChannel final : public DeliveryChannel {
 public:
  HttpChannel(std::unique_ptr<HttpClient> client, std::unique_ptr<AuthProvider> auth,
              const Clock& clock, bool receiverResolvesConditionalReferences)
      : client_(std::move(client)), auth_(std::move(auth)) {
    // One sender per HTTP kind: shaping may switch a destination between
    // transaction and single PUTs when capabilities change. They share the
    // ids learnt at this server.
    SenderOptions options{receiverResolvesConditionalReferences, &ids_};
    transaction_ =
        makeHttpSender(DestinationKind::kFhirTransaction, *client_, auth_.get(), clock, options);
    put_ = makeHttpSender(DestinationKind::kFhirPut, *client_, auth_.get(), clock, options);
    bundle_ = makeHttpSender(DestinationKind::kHttpBundle, *client_, auth_.get(), clock, options);
  }

  DeliveryOutcome send(const mappings::ShapedDelivery& shaped, std::int64_t) override {
    switch (shaped.kind) {
      case DestinationKind::kFhirTransaction:
        return transaction_->send(shaped);
      case DestinationKind::kFhirPut:
        return put_->send(shaped);
      case DestinationKind::kHttpBundle:
        return bundle_->send(shaped);
      case DestinationKind::kNdjsonDir:
        break;
    }
    DeliveryOutcome o;
    o.outcome = OutcomeClass::kPermanent;
    o.summary = "an HTTP destination cannot take an ndjson-dir delivery";
    return o;
  }

  fhir::Result<mappings::CapabilitySet> fetchCapabilities() override {
    return gateway::fetchCapabilities(*client_, auth_.get());
  }

 private:
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<AuthProvider> auth_;
  ServerIdCache ids_;
  std::unique_ptr<Sender> transaction_;
  std::unique_ptr<Sender> put_;
  std::unique_ptr<Sender> bundle_;
};

class NdjsonChannel final : public DeliveryChannel {
 public:
  explicit NdjsonChannel(std::unique_ptr<NdjsonDirSender> sender) : sender_(std::move(sender)) {}
  ~NdjsonChannel() override { (void)sender_->rotateNow(); }

  DeliveryOutcome send(const mappings::ShapedDelivery& shaped, std::int64_t messageId) override {
    return sender_->write(shaped, messageId);
  }
  fhir::Result<mappings::CapabilitySet> fetchCapabilities() override {
    return fhir::Status(ErrorCode::kUnsupported, "ndjson-dir has no CapabilityStatement");
  }
  void tick() override { (void)sender_->rotateIfDue(); }
  std::int64_t nextTickAtMillis() override { return sender_->nextRotationAtMillis(); }
  std::vector<NdjsonPublication> takePublications() override { return sender_->takePublications(); }
  void close() override { (void)sender_->rotateNow(); }

 private:
  std::unique_ptr<NdjsonDirSender> sender_;
};

}  // namespace

fhir::Result<std::unique_ptr<DeliveryChannel>> makeChannel(
    const mappings::DestinationProfile& destination, const Clock& clock, JsonLogger* logger) {
  if (destination.kind == DestinationKind::kNdjsonDir) {
    NdjsonDirOptions options;
    options.directory = destination.endpoint;
    options.filePrefix = "inloop-" + destination.id;
    options.maxBytes = destination.rotation.maxBytes;
    options.maxAgeMillis = destination.rotation.maxAgeMs;
    options.fileMode = destination.fileMode;
    fhir::Result<std::unique_ptr<NdjsonDirSender>> sender = NdjsonDirSender::create(options, clock);
    if (!sender.isOk()) return sender.status();
    return std::unique_ptr<DeliveryChannel>(
        std::make_unique<NdjsonChannel>(std::move(sender).value()));
  }
  fhir::Result<std::unique_ptr<HttpClient>> client =
      HttpClient::create(destination.endpoint, httpClientOptionsFor(destination), logger);
  if (!client.isOk()) return client.status();
  AuthDeps deps;
  deps.clock = &clock;
  deps.logger = logger;
  fhir::Result<std::unique_ptr<AuthProvider>> auth = makeAuthProvider(destination, deps);
  if (!auth.isOk()) return auth.status();
  return std::unique_ptr<DeliveryChannel>(
      std::make_unique<HttpChannel>(std::move(client).value(), std::move(auth).value(), clock,
                                    destination.conditionalReferences));
}

ChannelFactory defaultChannelFactory(const Clock& clock, JsonLogger* logger) {
  return [&clock, logger](const mappings::DestinationProfile& destination) {
    return makeChannel(destination, clock, logger);
  };
}

}  // namespace inloop::gateway

#pragma once

// DeliveryChannel: everything the engine needs to talk to one destination,
// behind one interface so tests can inject fakes: send a shaped message (the
// transport layer's Sender for the destination's kind, with its HttpClient and
// AuthProvider: gateway/transport/sender.h has the retry classification),
// discover capabilities (GET [base]/metadata) and periodic housekeeping
// (ndjson-dir file rotation).
//
// Thread safety: every method may be called concurrently.

#include <functional>
#include <memory>
#include <vector>

#include "fhir/status.h"
#include "gateway/transport/ndjson_dir_sender.h"
#include "gateway/transport/sender.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

class Clock;
class JsonLogger;

class DeliveryChannel {
 public:
  virtual ~DeliveryChannel() = default;
  // Sends `shaped` (state kSend) for the outbox message `messageId`; `kind` is
  // the kind actually used (mappings::chooseKind). Never throws.
  virtual DeliveryOutcome send(const mappings::ShapedDelivery& shaped, std::int64_t messageId) = 0;
  // GET [base]/metadata, parsed (gateway/transport/capabilities.h);
  // kUnsupported for kinds without a CapabilityStatement.
  virtual fhir::Result<mappings::CapabilitySet> fetchCapabilities() = 0;
  // Housekeeping on the engine's timer (publishing a due ndjson file).
  virtual void tick() {}
  // When tick() has work next (clock millis); 0: nothing scheduled.
  virtual std::int64_t nextTickAtMillis() { return 0; }
  // Files published since the last call (ndjson-dir): the messages whose
  // kWritten sends they hold are delivered now. The first call after the
  // channel is made returns the start-up publication (everyWritten).
  virtual std::vector<NdjsonPublication> takePublications() { return {}; }
  // The destination is being retired (reload, shutdown): publish what is
  // written, so that takePublications() then reports it.
  virtual void close() {}
};

using ChannelFactory = std::function<fhir::Result<std::unique_ptr<DeliveryChannel>>(
    const mappings::DestinationProfile& destination)>;

// The real channel for `destination`: its HttpClient (TLS settings, timeouts),
// AuthProvider and the Sender for its kind (a fhir-transaction destination
// whose server lacks transactions is switched to fhir-put by the shaping, and
// the channel then uses the fhir-put sender). Fails when the configuration
// cannot be used (unreadable CA, missing secret, bad URL, missing folder).
// `clock` and `logger` (may be null) must outlive the channel.
fhir::Result<std::unique_ptr<DeliveryChannel>> makeChannel(
    const mappings::DestinationProfile& destination, const Clock& clock, JsonLogger* logger);

// The factory that calls makeChannel.
ChannelFactory defaultChannelFactory(const Clock& clock, JsonLogger* logger);

}  // namespace inloop::gateway

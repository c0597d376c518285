// Package emulator runs an Azure IoT Hub in the calling process, for tests,
// demos and local development with no Azure subscription. It is shaped like
// net/http/httptest: [Start] one per test, point a client at
// [Emulator.ConnectionString] (or [Emulator.URL] and [Emulator.Client]),
// and [Emulator.Close] it at the end.
//
//	e, err := emulator.Start(ctx, nil)
//	if err != nil { … }
//	defer e.Close()
//	client, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
//
// The emulator is a product, not a mock: it serves the hub's REST API
// (identity registry, bulk operations, modules, twins, direct methods,
// statistics) with the paths, JSON shapes and api-version of the
// service's own REST definition, plus the query language (POST
// /devices/query, paged with x-ms-continuation), and it enforces the
// hub's rules with the hub's status codes, error codes
// and error bodies: shared access signatures checked on every request
// against the policies' keys, expiry, audience and rights (401002); id
// syntax (400004); ETags and If-Match (412001); 409001/409301 for
// duplicates; 404001/404010 for missing identities; twin limits (8 KB of
// tags, 32 KB of desired and of reported properties, depth 10, property
// names, 4 KB values); at most 100 entries per bulk call.
//
// Everything listens on one TCP port: the first bytes of each connection
// (after the TLS handshake, when [Options].TLS is set) decide whether it is
// HTTP, AMQP or MQTT. With TLS the emulator generates its own
// CA; [Emulator.Client] and [Emulator.TLSConfig] trust it and
// [Emulator.CACertPEM] hands it to other processes. Without TLS the
// connection strings carry UseDevelopmentEmulator=true, which tells this
// SDK's clients to use plain TCP.
//
// Clients that cannot be told a port — the official SDKs of other
// languages build https://{HostName} and dial 5671, devices dial 8883 —
// need [Options].StandardPorts: HTTPS on 443 (with WebSocket upgrades at
// /$iothub/websocket and /$servicebus/websocket, subprotocol AMQPWSB10),
// AMQPS on 5671 and MQTTS on 8883 (and MQTT over WebSockets at
// /$iothub/websocket, subprotocol mqtt),
// all with TLS, and connection strings whose HostName ([Options].HostName,
// default localhost) has no port. The certificate names localhost,
// 127.0.0.1, ::1, the host name and the address listened on. Ports below
// 1024 need root or the capability to bind them: run
// `sudo setcap cap_net_bind_service=+ep <binary>` once on the program, or
// lower the first unprivileged port for the whole machine with
// `sudo sysctl net.ipv4.ip_unprivileged_port_start=443`. Token audiences
// (sr on REST and CBS, the CBS name) may name the host with or without its
// port, or <hub>.azure-devices.net.
//
// Simulated devices stand in for real ones: [Emulator.Device] and
// [Emulator.Module] return a [SimulatedDevice] for a registered identity,
// which connects in-process (no network) through the same session layer
// that MQTT device connections use. A connected device shows as
// Connected in the registry (connectionState, connectionStateUpdatedTime,
// lastActivityTime) and in the service statistics (connectedDeviceCount;
// modules are not counted); disabling or deleting it disconnects it, and
// a disabled device cannot connect. It answers direct methods with
// handlers, exactly as the official device SDKs do (it subscribes to
// methods when its first handler is set; 501 for a method without a
// handler, 500 for a handler that panics or returns something that is not
// JSON), receives the desired properties the service writes, in $version
// order, and reports properties that twin reads then show with their
// $version and $metadata. POST /twins/{id}/methods and
// /twins/{id}/modules/{mid}/methods wait up to connectTimeoutInSeconds for
// the device to come online and subscribe (404103 DeviceNotOnline), then
// up to responseTimeoutInSeconds for its answer (504101 GatewayTimeout),
// and answer {"status":…,"payload":…} with the device's own status;
// payloads over 128 KB are refused with 413001 MessageTooLarge.
//
// Real devices connect over MQTT 3.1.1, as IoT Hub's MQTT support
// documents it (the front end is emulator/internal/devicemqtt, which reaches
// the hub core through emulator/internal/mqttcore): client id
// the device id (or deviceId/moduleId), user name
// {host}/{deviceId}/?api-version=…[&model-id=…] (the model id becomes the
// twin's modelId), password a SAS token signed with the device's key or a
// policy with DeviceConnect — or, for a selfSigned identity, no password
// and a TLS client certificate with its primary or secondary thumbprint
// (SHA-1 or SHA-256; over MQTTS and over WebSockets alike; CA-signed
// identities are refused, the emulator holding no verified CA
// certificates); telemetry on devices/{id}/messages/events/
// with its property bag, C2D on devices/{id}/messages/devicebound/#
// (PUBACK completes), direct methods on $iothub/methods/POST/#, twins on
// $iothub/twin/…, CleanSession 0 keeping subscriptions across reconnects.
// Refusals answer the CONNACK codes the hub sends; QoS 2, another device's
// topics and messages over 256 KB close the connection; an expiring token
// or a second connection of the identity ends it. MQTT and simulated
// devices meet the same session layer, so the service cannot tell them
// apart.
//
// Devices also call IoT Hub's device HTTPS API on the emulator's HTTP port
// (the front end is emulator/internal/devicehttp), as the official device
// SDKs' HTTP transports do: POST /devices/{id}/messages/events sends one
// message (application properties in iothub-app-{name} headers, system
// properties in iothub-messageid, iothub-correlationid,
// iothub-contenttype, iothub-contentencoding, iothub-creationtimeutc) or,
// with Content-Type application/vnd.microsoft.iothub.json, a batch, at most
// 256 KB (413001 MessageTooLarge); GET /devices/{id}/messages/deviceBound
// polls for a C2D message (204 when none; otherwise its lock token as the
// ETag and its properties as headers), DELETE …/deviceBound/{etag}
// completes it ("?reject" rejects it), POST …/{etag}/abandon abandons it,
// a lost lock answering 412002 DeviceMessageLockLost; module paths
// /devices/{id}/modules/{mid}/… alike. Each request carries a device SAS
// token in its Authorization header (or, over TLS, the client certificate
// of a selfSigned identity), checked as MQTT's password is.
//
// Devices speak AMQP too (emulator/internal/deviceamqp), over AMQPS and
// AMQP over WebSockets, as the official device SDKs' AMQP transports do,
// on the same engine as the service side: a device SAS token put on $cbs
// (its own, for {host}/devices/{id}, or a policy's with DeviceConnect), or
// SASL PLAIN as {id}@sas.{hub}, or for a selfSigned identity only its TLS
// client certificate; telemetry on /devices/{id}/messages/events
// (256 KB at most); C2D on /devices/{id}/messages/devicebound, accepted
// completing, rejected rejecting, released and modified abandoning, each
// message's delivery-tag its lock token; direct methods on the
// /devices/{id}/methods/devicebound link pair (IoThub-methodname and
// IoThub-status, a uuid correlation-id); the twin on the /devices/{id}/twin
// link pair (operation and resource annotations: GET, PATCH
// /properties/reported, PUT and DELETE
// /notifications/twin/properties/desired; answers with status and version
// annotations; desired updates without a correlation-id); module forms
// alike. A link whose token lapses is detached; a connection of the same
// identity elsewhere detaches the old links with amqp:link:stolen.
//
// With [Options].FileUpload a storage account is linked for file uploads,
// as IoT Hub's fileUpload settings link one: POST /devices/{id}/files
// {"blobName":…} answers {correlationId, hostName, containerName,
// blobName, sasToken}, the blob {deviceId}/{blobName} in the container
// with a SAS token of SASTTL (1 hour); the device writes the blob itself
// (https://{hostName}/{containerName}/{blobName}{sasToken}; for a
// path-style endpoint such as Azurite's, hostName holds the account's
// path), then POST /devices/{id}/files/notifications (or
// …/notifications/{correlationId}) {correlationId, isSuccess, …} queues
// the file notification with the blob's real URI, size and time. At most
// 10 uploads in flight per device (403006); unknown and expired
// correlation ids answer 400015 and 400016, a blob that is not there
// 400020, and a hub with no storage linked 400014
// DefaultStorageEndpointNotConfigured.
//
// The status codes of successful answers were checked against what the
// real hub sends, not only against the REST definition, which sometimes
// allows more: recorded sessions with a real hub (the test records of
// azure-sdk-for-net's Azure.Iot.Hub.Service), the C# v2 service SDK (which
// accepts exactly one status per call) and the end-to-end tests of the C#,
// Java and Python SDKs. Device and module create and update answer 200
// (the definition also lists 201 for modules; the hub sends 200); deletes
// 204; bulk registry operations 200, or 400 with the same result body when
// an entry failed; twins, queries (x-ms-item-type, and x-ms-continuation
// only when another page follows), statistics and purges 200; a direct
// method 200 with the device's own status in the body, 404103 when the
// device is offline, 504101 when it answers too late.
//
// The AMQP side serves what the service SDKs use: $cbs put-token (SAS
// tokens of the policies, and the emulator's own Entra ID tokens; answers
// reach the reply receiver however the client names it, with 200 as the
// hub sends), SASL PLAIN in the IoT Hub form (and in the Event Hubs form,
// policy name and key, for the Event Hub-compatible entity), /messages/devicebound with per-device queues
// and the hub's rules (50 messages, 64 KB, time to live, 10 deliveries),
// delivery feedback batches, file-upload notifications, and the built-in
// Event Hub-compatible endpoint: partitions, consumer groups, selector
// filters, owner levels, $management, and the amqp:link:redirect that
// sends readers of messages/events there. Simulated devices receive C2D
// messages ([SimulatedDevice.ReceiveC2D], with Complete, Reject and
// Abandon), send telemetry ([SimulatedDevice.SendTelemetry]) and upload
// files ([SimulatedDevice.UploadFile]: into real blob storage, Azurite in
// tests, when [Options].FileUpload links one). [Emulator.EventHubConnectionString]
// points any Event Hubs client at the endpoint; azeventhubs over TLS needs
// its TLS ServerName set to "localhost", as the certificate names it.
//
// Code written for Microsoft Entra ID is tested with
// [Emulator.TokenCredential], an azcore.TokenCredential whose tokens carry
// the given roles (RoleDataContributor, RoleRegistryContributor, …); the
// emulator accepts them as Bearer on REST and as jwt on CBS and enforces
// each role's data actions.
//
// Tests of retries and error paths use [Emulator.InjectFault] to make the
// next requests fail (429001 with Retry-After, 503001, …) or slow down, and
// [Emulator.RequestCount] or [Emulator.Requests] to see what the client
// sent; [Emulator.DropAMQPConnections], [Emulator.DetachTelemetryReceivers]
// and [Emulator.LimitTokenLifetime] do the same for AMQP.
//
// By default the emulator keeps everything in memory and forgets it at
// Close. With [Options].StateDir (iothub emulator --state-dir) it keeps the
// hub in a directory instead, in one bbolt file, and finds it again at the
// next start: identities, modules and twins, the policies and their keys
// (connection strings stay valid), consumer groups, C2D queues with their
// order and delivery counts, feedback and file notifications not yet
// received, the telemetry partitions within retention (offsets and sequence
// numbers go on where they stopped), and the CA. Every change is answered
// once it is on disk, many changes sharing one fsync; a crash (even
// SIGKILL) loses at most changes not yet answered and never leaves the file
// unreadable. What a restart does not keep: connections (every identity is
// disconnected), C2D locks (a message locked by a device is ready again,
// with its delivery count), and lastActivityTime changes caused by activity
// alone. The emulator has no global state: any number of emulators can run
// side by side, each with its own state directory or none.
//
// Inside, the emulator is one hub core and a thin package per front end.
// The core, emulator/internal/core, holds the hub's state (identities with
// their twins, policies, device sessions, the query engine, C2D queues,
// telemetry partitions, the state directory) and the rules every front end
// shares: credentials checks, who may connect, twin writes with their
// desired-property notifications, disconnecting disabled or deleted
// identities, direct methods. Each front end speaks one protocol and asks
// the core: emulator/internal/servicerest the service REST API,
// emulator/internal/serviceamqp the service side of AMQP (CBS, C2D,
// feedback, file notifications, the Event Hub-compatible endpoint), and
// emulator/internal/devicemqtt devices over MQTT,
// emulator/internal/devicehttp devices over HTTPS and
// emulator/internal/deviceamqp devices over AMQP, beside
// emulator/internal/fileupload, the linked storage. emulator/internal/listener
// is the port plumbing (sockets, protocol sniffing, TLS, WebSocket
// upgrades), and emulator/internal/entra the Entra ID stand-in both service
// front ends check tokens with. This package holds the public API and wires
// the others together. [SimulatedDevice]s and devices over MQTT, AMQP and
// HTTPS meet in the same session layer of the core, so the service cannot
// tell them apart.
package emulator

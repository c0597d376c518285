// A device on the official Node.js device SDK (azure-iot-device with
// azure-iot-device-mqtt, -amqp and -http), driven by interop/device_test.go
// against the emulator:
//
//   DEVICE_CONNECTION_STRING=HostName=…;DeviceId=…;SharedAccessKey=… \
//   TRANSPORT=mqtt|mqttws|amqp|amqpws|http node device.js
//
// An X.509 device has x509=true in its connection string and its
// certificate and key in the PEM files X509_CERT_FILE and X509_KEY_FILE.
//
// It connects, answers the direct method "echo", reports properties,
// follows desired ones and sends one telemetry message, then prints
// "ready" (over HTTPS, which has no methods or twins in the SDK, it only
// sends and receives). A C2D message is completed, unless its "settle"
// property says "reject", or "abandon" (abandoned the first time it comes,
// completed when it comes back). Each event prints a line ("c2d {json}",
// "desired {json}", "error …"); commands come one a line on stdin:
// "close", "open", "exit", "upload NAME FILE" (uploadToBlob), answered by
// "closed", "opened", "uploaded {json}".
'use strict';

const fs = require('node:fs');
const readline = require('node:readline');
const { Client, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { Http } = require('azure-iot-device-http');

const transports = { mqtt: Mqtt, mqttws: MqttWs, amqp: Amqp, amqpws: AmqpWs, http: Http };

function say(kind, value) {
  console.log(value === undefined ? kind : `${kind} ${JSON.stringify(value)}`);
}

async function main() {
  const name = process.env.TRANSPORT || 'mqtt';
  const transport = transports[name];
  if (!transport) throw new Error(`unknown TRANSPORT ${name}`);
  const client = Client.fromConnectionString(process.env.DEVICE_CONNECTION_STRING, transport);
  if (name === 'http') {
    // Poll for C2D messages every second (the SDK's default), all at once.
    await client.setOptions({ http: { receivePolicy: { interval: 1, drain: true } } });
  }
  if (process.env.X509_CERT_FILE) {
    await client.setOptions({
      cert: fs.readFileSync(process.env.X509_CERT_FILE, 'utf8'),
      key: fs.readFileSync(process.env.X509_KEY_FILE, 'utf8'),
    });
  }
  client.on('error', (err) => say('error', String(err)));
  const abandoned = new Set(); // message ids abandoned once
  client.on('message', (msg) => {
    const props = {};
    for (let i = 0; i < msg.properties.count(); i++) {
      const p = msg.properties.getItem(i);
      // Over HTTPS the SDK keeps the header's name, iothub-app-{name}.
      props[p.key.replace(/^iothub-app-/, '')] = p.value;
    }
    let settle = props.settle === 'reject' ? 'reject' : 'complete';
    if (props.settle === 'abandon' && !abandoned.has(msg.messageId)) {
      abandoned.add(msg.messageId);
      settle = 'abandon';
    }
    say('c2d', { body: msg.data.toString(), messageId: msg.messageId, correlationId: msg.correlationId, props, settle });
    client[settle](msg, (err) => { if (err) say('error', `${settle}: ${err}`); });
  });
  if (name !== 'http') {
    client.onDeviceMethod('echo', (req, res) => {
      res.send(200, { echo: req.payload, method: req.methodName }, (err) => { if (err) say('error', `method: ${err}`); });
    });
  }
  await client.open();
  if (name !== 'http') {
    const twin = await client.getTwin();
    twin.on('properties.desired', (desired) => say('desired', desired));
    await new Promise((resolve, reject) => twin.properties.reported.update(
      { firmware: '1.0', transport: name }, (err) => (err ? reject(err) : resolve())));
  }
  const m = new Message(JSON.stringify({ temperature: 21.5 }));
  m.messageId = 'node-telemetry-1';
  m.correlationId = 'node-corr-1';
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('source', 'node device');
  m.properties.add('alert', 'true');
  await client.sendEvent(m);
  say('ready');

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [command, ...args] = line.trim().split(' ');
    switch (command) {
      case 'close':
        await client.close();
        say('closed');
        break;
      case 'open':
        await client.open();
        if (!name.startsWith('mqtt')) {
          // Over AMQP and HTTPS the SDK turns C2D back on after open()
          // only when a 'message' listener is added (MQTT's session keeps
          // the subscription).
          client.on('message', () => {});
        }
        say('opened');
        break;
      case 'upload': {
        const [blobName, file] = args;
        const size = fs.statSync(file).size;
        await client.uploadToBlob(blobName, fs.createReadStream(file), size);
        say('uploaded', { blobName, size });
        break;
      }
      case 'exit':
        await client.close();
        process.exit(0);
        break;
      default:
        say('error', `unknown command ${line}`);
    }
  }
}

main().catch((err) => {
  say('error', String(err && err.stack));
  process.exit(1);
});

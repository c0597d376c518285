// A device on the official Node.js device SDK (azure-iot-device with
// azure-iot-device-mqtt), driven by interop/interop_test.go against the
// emulator:
//
//   DEVICE_CONNECTION_STRING=HostName=…;DeviceId=…;SharedAccessKey=… \
//   TRANSPORT=mqtt|mqttws node device.js
//
// An X.509 device has x509=true in its connection string and its
// certificate and key in the PEM files X509_CERT_FILE and X509_KEY_FILE.
//
// It connects, answers the direct method "echo", completes every C2D
// message, reports properties, follows desired ones and sends one
// telemetry message, then prints "ready". Each event prints a line
// ("c2d {json}", "desired {json}", "error …"); commands come one a line on
// stdin: "close", "open", "exit", each answered by "closed", "opened".
'use strict';

const fs = require('node:fs');
const readline = require('node:readline');
const { Client, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');

function say(kind, value) {
  console.log(value === undefined ? kind : `${kind} ${JSON.stringify(value)}`);
}

async function main() {
  const transport = process.env.TRANSPORT === 'mqttws' ? MqttWs : Mqtt;
  const client = Client.fromConnectionString(process.env.DEVICE_CONNECTION_STRING, transport);
  if (process.env.X509_CERT_FILE) {
    await client.setOptions({
      cert: fs.readFileSync(process.env.X509_CERT_FILE, 'utf8'),
      key: fs.readFileSync(process.env.X509_KEY_FILE, 'utf8'),
    });
  }
  client.on('error', (err) => say('error', String(err)));
  client.on('message', (msg) => {
    const props = {};
    for (let i = 0; i < msg.properties.count(); i++) {
      const p = msg.properties.getItem(i);
      props[p.key] = p.value;
    }
    say('c2d', { body: msg.data.toString(), messageId: msg.messageId, correlationId: msg.correlationId, props });
    client.complete(msg, (err) => { if (err) say('error', `complete: ${err}`); });
  });
  client.onDeviceMethod('echo', (req, res) => {
    res.send(200, { echo: req.payload, method: req.methodName }, (err) => { if (err) say('error', `method: ${err}`); });
  });
  await client.open();
  const twin = await client.getTwin();
  twin.on('properties.desired', (desired) => say('desired', desired));
  await new Promise((resolve, reject) => twin.properties.reported.update(
    { firmware: '1.0', transport: process.env.TRANSPORT || 'mqtt' }, (err) => (err ? reject(err) : resolve())));
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
    switch (line.trim()) {
      case 'close':
        await client.close();
        say('closed');
        break;
      case 'open':
        await client.open();
        say('opened');
        break;
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

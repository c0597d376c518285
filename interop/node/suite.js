// The official Node.js clients against the iothub emulator.
//
//   node suite.js <phase>
//
// interop/interop_test.go runs each phase with the emulator in
// standard-ports mode and the environment below; it prints one line per
// check ("ok - name" or "not ok - name: why") and exits 1 if any failed.
//
//   IOTHUB_CONNECTION_STRING    the hub's iothubowner connection string
//   EVENTHUB_CONNECTION_STRING  the built-in endpoint's connection string
//   AZURITE_CONNECTION_STRING   Azurite's blob account (checkpoint phases)
//   CHECKPOINT_CONTAINER        the blob container of the checkpoint store
//   EXPECT                      JSON the phase checks against (see each phase)
//   NODE_EXTRA_CA_CERTS         the emulator's CA (read by Node itself)
'use strict';

const assert = require('node:assert/strict');
const iothub = require('azure-iothub');
const { Message } = require('azure-iothub/dist/common-core/message');
const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const { BlobCheckpointStore } = require('@azure/eventhubs-checkpointstore-blob');
const { ContainerClient } = require('@azure/storage-blob');

let failures = 0;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failures++;
    const why = (err && (err.stack || err.message)) || String(err);
    console.log(`not ok - ${name}: ${why.split('\n').slice(0, 4).join(' | ')}`);
  }
}

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function expectation() {
  return JSON.parse(env('EXPECT'));
}

// withTimeout fails a promise that takes longer than ms.
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

async function rejects(promise, predicate, what) {
  try {
    await promise;
  } catch (err) {
    assert.ok(predicate(err), `${what}: unexpected error ${err && err.name}: ${err && err.message} ${err && err.responseBody}`);
    return err;
  }
  throw new Error(`${what}: succeeded, but should have failed`);
}

// ---------------------------------------------------------------- registry

async function registryPhase() {
  const registry = iothub.Registry.fromConnectionString(env('IOTHUB_CONNECTION_STRING'));
  const id = 'node-reg-1';

  await check('registry: create a device (200, keys generated)', async () => {
    const res = await registry.create({ deviceId: id });
    assert.equal(res.httpResponse.statusCode, 200);
    assert.equal(res.responseBody.deviceId, id);
    assert.ok(res.responseBody.authentication.symmetricKey.primaryKey, 'a primary key');
    assert.ok(res.responseBody.etag, 'an etag');
  });
  await check('registry: creating it again is DeviceAlreadyExistsError', async () => {
    await rejects(registry.create({ deviceId: id }), (e) => e.name === 'DeviceAlreadyExistsError', 'second create');
  });
  await check('registry: get', async () => {
    const res = await registry.get(id);
    assert.equal(res.responseBody.deviceId, id);
    assert.equal(res.responseBody.status, 'enabled');
  });
  await check('registry: update (status disabled)', async () => {
    const got = (await registry.get(id)).responseBody;
    const res = await registry.update({ deviceId: id, status: 'disabled', statusReason: 'interop', authentication: got.authentication });
    assert.equal(res.responseBody.status, 'disabled');
    assert.notEqual(res.responseBody.etag, got.etag, 'the etag changes');
  });
  await check('registry: list contains the device', async () => {
    const res = await registry.list();
    assert.ok(res.responseBody.some((d) => d.deviceId === id));
  });
  await check('registry: an unknown device is DeviceNotFoundError', async () => {
    await rejects(registry.get('node-nobody'), (e) => e.name === 'DeviceNotFoundError', 'get');
  });
  await check('registry: a malformed id is ArgumentError', async () => {
    await rejects(registry.create({ deviceId: 'bad id with spaces' }), (e) => e.name === 'ArgumentError', 'create');
  });

  await check('registry: bulk add, update, remove', async () => {
    const devices = ['node-bulk-1', 'node-bulk-2', 'node-bulk-3'].map((deviceId) => ({ deviceId }));
    let res = await registry.addDevices(devices);
    assert.equal(res.responseBody.isSuccessful, true, JSON.stringify(res.responseBody));
    const got = await Promise.all(devices.map((d) => registry.get(d.deviceId)));
    res = await registry.updateDevices(got.map((g) => ({ ...g.responseBody, status: 'disabled' })), true);
    assert.equal(res.responseBody.isSuccessful, true, JSON.stringify(res.responseBody));
    assert.equal((await registry.get('node-bulk-2')).responseBody.status, 'disabled');
    // A failed entry makes the hub answer 400 with the result, which this
    // SDK turns into ArgumentError carrying the body.
    const err = await rejects(registry.addDevices([{ deviceId: 'node-bulk-1' }]), (e) => e.name === 'ArgumentError', 'bulk add of a duplicate');
    const result = JSON.parse(err.responseBody);
    assert.equal(result.isSuccessful, false);
    assert.equal(result.errors[0].deviceId, 'node-bulk-1');
    assert.equal(result.errors[0].errorCode, 'DeviceAlreadyExists');
    res = await registry.removeDevices(devices, true);
    assert.equal(res.responseBody.isSuccessful, true, JSON.stringify(res.responseBody));
    await rejects(registry.get('node-bulk-3'), (e) => e.name === 'DeviceNotFoundError', 'get after bulk remove');
  });

  await check('registry: modules (add 200, get, update with etag, stale etag, list, remove)', async () => {
    let res = await registry.addModule({ deviceId: id, moduleId: 'm1' });
    assert.equal(res.httpResponse.statusCode, 200, 'module create answers 200, as the hub does');
    const first = res.responseBody;
    assert.equal(first.moduleId, 'm1');
    res = await registry.getModule(id, 'm1');
    assert.equal(res.responseBody.deviceId, id);
    res = await registry.updateModule({ ...first, managedBy: 'interop' });
    assert.equal(res.responseBody.managedBy, 'interop');
    await rejects(registry.updateModule({ ...first, managedBy: 'stale' }), (e) => e.name === 'InvalidEtagError', 'update with a stale etag');
    res = await registry.getModulesOnDevice(id);
    assert.deepEqual(res.responseBody.map((m) => m.moduleId), ['m1']);
    await registry.removeModule(id, 'm1');
    res = await registry.getModulesOnDevice(id);
    assert.equal(res.responseBody.length, 0);
  });

  await check('twin: get, update with etag, a stale etag fails', async () => {
    const twin = (await registry.getTwin(id)).responseBody;
    assert.equal(twin.deviceId, id);
    assert.ok(twin.etag, 'twin etag');
    const updated = (await registry.updateTwin(id, { tags: { site: 'lab' }, properties: { desired: { interval: 30 } } }, twin.etag)).responseBody;
    assert.equal(updated.tags.site, 'lab');
    assert.equal(updated.properties.desired.interval, 30);
    assert.notEqual(updated.etag, twin.etag);
    await rejects(registry.updateTwin(id, { tags: { site: 'stale' } }, twin.etag), (e) => e.name === 'InvalidEtagError', 'stale twin etag');
    // The Twin object's own update, which sends If-Match with its etag.
    const t = (await registry.getTwin(id)).responseBody;
    const res = await t.update({ tags: { floor: 2 } });
    assert.equal(res.result.tags.floor, 2);
    assert.equal(res.result.tags.site, 'lab', 'a patch merges');
  });

  await check('query: 5 twins in pages of 2, with continuation', async () => {
    for (let i = 0; i < 5; i++) {
      const did = `node-q-${i}`;
      await registry.create({ deviceId: did });
      const t = (await registry.getTwin(did)).responseBody;
      await registry.updateTwin(did, { tags: { interop: 'page', n: i } }, t.etag);
    }
    const query = registry.createQuery("SELECT * FROM devices WHERE tags.interop = 'page'", 2);
    const pages = [];
    const ids = [];
    while (query.hasMoreResults) {
      const res = await query.nextAsTwin();
      pages.push(res.result.length);
      for (const twin of res.result) ids.push(twin.deviceId);
    }
    assert.deepEqual(pages, [2, 2, 1]);
    assert.deepEqual(ids.sort(), ['node-q-0', 'node-q-1', 'node-q-2', 'node-q-3', 'node-q-4']);
  });
  await check('query: an aggregate', async () => {
    const query = registry.createQuery("SELECT COUNT() AS total FROM devices WHERE tags.interop = 'page'");
    const res = await query.next();
    assert.deepEqual(res.result, [{ total: 5 }]);
  });
  await check('query: a malformed query is ArgumentError', async () => {
    await rejects(registry.createQuery('SELECT FROM WHERE').next(), (e) => e.name === 'ArgumentError', 'query');
  });
  await check('registry: statistics', async () => {
    const res = await registry.getRegistryStatistics();
    const s = res.responseBody;
    assert.ok(s.totalDeviceCount >= 6, JSON.stringify(s));
    assert.equal(s.totalDeviceCount, s.enabledDeviceCount + s.disabledDeviceCount);
  });
  await check('registry: delete', async () => {
    await registry.delete(id);
    await rejects(registry.get(id), (e) => e.name === 'DeviceNotFoundError', 'get after delete');
  });
}

// ---------------------------------------------------------------- client (AMQP)

// EXPECT: {c2dDevice, methodDevice, offlineDevice, fileDevice, fileBlob}
async function clientPhase(transport) {
  const want = expectation();
  const client = transport
    ? iothub.Client.fromConnectionString(env('IOTHUB_CONNECTION_STRING'), transport)
    : iothub.Client.fromConnectionString(env('IOTHUB_CONNECTION_STRING'));
  const label = transport ? 'client (AMQP over WebSockets)' : 'client (AMQP)';
  try {
    await check(`${label}: open`, async () => {
      await withTimeout(client.open(), 30000, 'open');
    });

    await check(`${label}: C2D with ack full, and its feedback record`, async () => {
      const { result: receiver } = await withTimeout(client.getFeedbackReceiver(), 30000, 'getFeedbackReceiver');
      const messageId = `node-c2d-${transport ? 'ws' : 'amqp'}-${Date.now()}`;
      const feedback = new Promise((resolve, reject) => {
        receiver.on('errorReceived', reject);
        receiver.on('message', (msg) => {
          const records = JSON.parse(msg.data.toString());
          receiver.complete(msg, () => {});
          const mine = records.find((r) => r.originalMessageId === messageId);
          if (mine) resolve(mine);
        });
      });
      const msg = new Message(JSON.stringify({ on: true }));
      msg.messageId = messageId;
      msg.ack = 'full';
      msg.properties.add('source', 'node');
      await withTimeout(client.send(want.c2dDevice, msg), 30000, 'send');
      const record = await withTimeout(feedback, 30000, 'feedback');
      assert.equal(record.deviceId, want.c2dDevice);
      assert.equal(record.statusCode, 'Success');
      assert.ok(record.enqueuedTimeUtc, 'enqueuedTimeUtc');
    });

    await check(`${label}: a C2D message to an unknown device fails`, async () => {
      // The hub rejects the transfer with amqp:not-found.
      await rejects(withTimeout(client.send('node-nobody', 'x'), 30000, 'send'), (e) => e.name === 'DeviceNotFoundError', 'send to unknown device');
    });

    if (!transport) {
      await check(`${label}: a file upload notification`, async () => {
        const { result: receiver } = await withTimeout(client.getFileNotificationReceiver(), 30000, 'getFileNotificationReceiver');
        const note = await withTimeout(new Promise((resolve, reject) => {
          receiver.on('errorReceived', reject);
          receiver.on('message', (msg) => {
            receiver.complete(msg, () => {});
            resolve(JSON.parse(msg.data.toString()));
          });
        }), 30000, 'file notification');
        assert.equal(note.deviceId, want.fileDevice);
        assert.equal(note.blobName, `${want.fileDevice}/${want.fileBlob}`);
        assert.ok(note.blobUri && note.blobUri.endsWith(`${want.fileDevice}/${want.fileBlob}`), note.blobUri);
        assert.ok(note.blobSizeInBytes > 0);
      });
    }

    await check(`${label}: invokeDeviceMethod on an online device`, async () => {
      const res = await withTimeout(client.invokeDeviceMethod(want.methodDevice, {
        methodName: 'echo', payload: { n: 42 }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 5,
      }), 30000, 'invoke');
      assert.equal(res.result.status, 200);
      assert.deepEqual(res.result.payload, { echo: { n: 42 } });
    });
    await check(`${label}: invokeDeviceMethod on an offline device is 404103`, async () => {
      const err = await rejects(withTimeout(client.invokeDeviceMethod(want.offlineDevice, {
        methodName: 'echo', payload: {}, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0,
      }), 30000, 'invoke'), (e) => e.response && e.response.statusCode === 404, 'offline invoke');
      assert.match(String(err.responseBody), /404103/);
    });
  } finally {
    await client.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- Event Hubs

// EXPECT: {events: [{body, deviceId, properties}], partitions}
async function eventHubsPhase() {
  const want = expectation();
  const consumer = new EventHubConsumerClient('$Default', env('EVENTHUB_CONNECTION_STRING'));
  try {
    await check('event hubs: hub properties', async () => {
      const p = await consumer.getEventHubProperties();
      assert.equal(p.partitionIds.length, want.partitions);
      assert.ok(p.createdOn instanceof Date);
    });
    await check('event hubs: partition properties', async () => {
      let total = 0;
      for (const id of await consumer.getPartitionIds()) {
        const p = await consumer.getPartitionProperties(id);
        assert.equal(p.partitionId, id);
        if (!p.isEmpty) total += p.lastEnqueuedSequenceNumber - p.beginningSequenceNumber + 1;
      }
      assert.equal(total, want.events.length);
    });
    await check('event hubs: subscribe from earliest, every event intact', async () => {
      const got = await readEvents(consumer, want.events.length, { startPosition: earliestEventPosition });
      for (const w of want.events) {
        const e = got.find((g) => bodyText(g.body) === w.body);
        assert.ok(e, `event ${w.body} was read`);
        assert.deepEqual(e.properties, w.properties);
        assert.equal(e.systemProperties['iothub-connection-device-id'], w.deviceId);
        assert.ok(e.systemProperties['iothub-enqueuedtime'], 'iothub-enqueuedtime');
        assert.equal(e.systemProperties['iothub-message-source'], 'Telemetry');
        assert.ok(e.enqueuedTimeUtc instanceof Date);
        assert.equal(typeof e.sequenceNumber, 'number');
        if (w.messageId) assert.equal(e.messageId, w.messageId);
        if (w.contentType) assert.equal(e.contentType, w.contentType);
      }
    });
  } finally {
    await consumer.close();
  }
}

function bodyText(body) {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString();
  if (typeof body === 'string') return body;
  return JSON.stringify(body);
}

// readEvents subscribes until n events arrived (or 60 s passed) and returns
// them; with a checkpoint store it checkpoints each batch's last event.
async function readEvents(consumer, n, options, checkpoint) {
  const got = [];
  let sub;
  await withTimeout(new Promise((resolve, reject) => {
    sub = consumer.subscribe({
      processEvents: async (events, context) => {
        got.push(...events);
        if (checkpoint && events.length > 0) await context.updateCheckpoint(events[events.length - 1]);
        if (got.length >= n) resolve();
      },
      processError: async (err) => reject(err),
    }, { maxBatchSize: 50, maxWaitTimeInSeconds: 1, ...options });
  }), 60000, `reading ${n} events`);
  await sub.close();
  return got;
}

// ---------------------------------------------------------------- checkpoints

// EXPECT: {bodies: [...]}: exactly these events are read, resuming from the
// store's checkpoints (earliest where a partition has none), and the last
// of each partition is checkpointed.
async function checkpointPhase(name) {
  const want = expectation();
  const container = new ContainerClient(env('AZURITE_CONNECTION_STRING'), env('CHECKPOINT_CONTAINER'));
  const store = new BlobCheckpointStore(container);
  // Greedy, and every second: one client should own every partition at
  // once, not one more each 10 s as the balanced default claims them.
  const consumer = new EventHubConsumerClient('$Default', env('EVENTHUB_CONNECTION_STRING'), store, {
    loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 1000 },
  });
  try {
    await check(`checkpoints (${name}): exactly the events after the checkpoints`, async () => {
      const got = await readEvents(consumer, want.bodies.length, { startPosition: earliestEventPosition }, true);
      assert.ok(got.length > 0);
      // Anything still in flight would be a duplicate: give it a moment.
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(got.map((e) => bodyText(e.body)).sort(), [...want.bodies].sort());
    });
    await check(`checkpoints (${name}): one checkpoint per partition read`, async () => {
      const { fullyQualifiedNamespace, eventHubName, consumerGroup } = {
        fullyQualifiedNamespace: consumer.fullyQualifiedNamespace, eventHubName: consumer.eventHubName, consumerGroup: '$Default',
      };
      const cps = await store.listCheckpoints(fullyQualifiedNamespace, eventHubName, consumerGroup);
      assert.ok(cps.length > 0, 'checkpoints were written');
      for (const cp of cps) assert.equal(typeof cp.sequenceNumber, 'number');
    });
  } finally {
    await consumer.close();
  }
}

// ---------------------------------------------------------------- main

const phases = {
  registry: registryPhase,
  client: () => clientPhase(),
  'client-ws': () => clientPhase(iothub.AmqpWs),
  eventhubs: eventHubsPhase,
  'checkpoint-write': () => checkpointPhase('Node writes'),
  'checkpoint-resume': () => checkpointPhase('Node resumes'),
};

(async () => {
  const phase = process.argv[2];
  if (!phases[phase]) {
    console.log(`not ok - unknown phase ${phase}; phases: ${Object.keys(phases).join(', ')}`);
    process.exit(2);
  }
  await phases[phase]();
  process.exit(failures === 0 ? 0 : 1);
})().catch((err) => {
  console.log(`not ok - ${process.argv[2]}: ${err && err.stack}`);
  process.exit(1);
});

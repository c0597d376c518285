package fileupload

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// MaxActiveUploads is how many uploads a device may have in flight: started
// and neither reported nor past their SAS TTL. IoT Hub answers the next one
// with 403006.
const MaxActiveUploads = 10

// upload is one upload in flight.
type upload struct {
	deviceID string
	blobName string // {deviceId}/{blobName}
	expires  time.Time
}

// correlations are the uploads in flight, by correlation id. An upload past
// its SAS TTL stays one more TTL, so that its report is told "expired"
// (400016) rather than "unknown" (400015); then a sweep forgets it.
type correlations struct {
	mu        sync.Mutex
	ttl       time.Duration
	byID      map[string]*upload
	byDevice  map[string]map[string]*upload
	nextSweep time.Time
}

func newCorrelations(ttl time.Duration) *correlations {
	return &correlations{ttl: ttl, byID: map[string]*upload{}, byDevice: map[string]map[string]*upload{}}
}

// add records an upload of deviceID, unless the device has
// MaxActiveUploads in flight at now. It returns the correlation id.
func (c *correlations) add(deviceID, requestedName, blobName string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	active := 0
	for _, up := range c.byDevice[deviceID] {
		if now.Before(up.expires) {
			active++
		}
	}
	if active >= MaxActiveUploads {
		return "", false
	}
	id := correlationID(requestedName, now)
	up := &upload{deviceID: deviceID, blobName: blobName, expires: now.Add(c.ttl)}
	c.put(id, up)
	return id, true
}

// take removes the upload id of deviceID and returns it; nil when there is
// none (or it is another device's).
func (c *correlations) take(deviceID, id string, now time.Time) *upload {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	up := c.byID[id]
	if up == nil || up.deviceID != deviceID {
		return nil
	}
	c.remove(id, up)
	return up
}

// restore puts back an upload that take removed, for a report the hub
// refused: the upload stays in flight until its TTL ends.
func (c *correlations) restore(id string, up *upload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(id, up)
}

// drop forgets an upload that could not start.
func (c *correlations) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if up := c.byID[id]; up != nil {
		c.remove(id, up)
	}
}

func (c *correlations) put(id string, up *upload) {
	c.byID[id] = up
	dev := c.byDevice[up.deviceID]
	if dev == nil {
		dev = map[string]*upload{}
		c.byDevice[up.deviceID] = dev
	}
	dev[id] = up
}

func (c *correlations) remove(id string, up *upload) {
	delete(c.byID, id)
	delete(c.byDevice[up.deviceID], id)
	if len(c.byDevice[up.deviceID]) == 0 {
		delete(c.byDevice, up.deviceID)
	}
}

// sweep forgets, at most once a TTL, the uploads that expired a TTL ago.
func (c *correlations) sweep(now time.Time) {
	if now.Before(c.nextSweep) {
		return
	}
	c.nextSweep = now.Add(c.ttl)
	for id, up := range c.byID {
		if !now.Before(up.expires.Add(c.ttl)) {
			c.remove(id, up)
		}
	}
}

// correlationID makes an id in the shape of the hub's: base64 of
// "{yyyyMMddHHmm}_{random UUID}_{blobName}_ver2.0". Devices treat it as
// opaque; its '+', '/' and '=' test that they escape it in a URL.
func correlationID(blobName string, now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	return base64.StdEncoding.EncodeToString([]byte(now.UTC().Format("200601021504") + "_" + uuid + "_" + blobName + "_ver2.0"))
}

package registry

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzTwinPatch feeds arbitrary JSON bodies through the twin rules: no
// panic, and whatever is accepted keeps the twin within its limits and
// serializable.
func FuzzTwinPatch(f *testing.F) {
	for _, seed := range []string{
		`{"tags":{"a":{"b":1}},"properties":{"desired":{"x":null,"y":[1,{"z":true}]}}}`,
		`{"properties":{"desired":{"$metadata":{},"$version":3,"k":"v"},"reported":{"r":1}}}`,
		`{"tags":{"a.b":1}}`,
		`{"tags":[]}`,
		`{"tags":{"":{"\u0000":1}}}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, replace bool) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&m) != nil {
			return
		}
		p, err := ParseTwinPatch(m)
		if err != nil {
			return
		}
		s := New(nil)
		if _, _, err := s.PutDevice(DeviceSpec{DeviceID: "d"}, ""); err != nil {
			t.Fatal(err)
		}
		if replace {
			_, err = s.ReplaceTwin("d", "", p, "")
		} else {
			_, err = s.UpdateTwin("d", "", p, "")
		}
		if err != nil {
			return
		}
		doc, err := s.GetTwin("d", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(doc); err != nil {
			t.Fatalf("twin does not serialize: %v", err)
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		tw := s.devices["d"].twin
		if Size(tw.tags) > MaxTagsSize || Size(tw.desired.props) > MaxPropertiesSize {
			t.Fatalf("twin over its limits")
		}
		for k := range tw.desired.props {
			if k == metadataKey || k == versionKey {
				t.Fatalf("system key %q stored as a property", k)
			}
		}
	})
}

// FuzzValidateID checks that accepted ids are short, printable ASCII.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"d1", "a#b", "a b", "", "é", "x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateDeviceID(id) != nil {
			return
		}
		if len(id) == 0 || len(id) > MaxIDLength {
			t.Fatalf("accepted id of length %d", len(id))
		}
		for i := 0; i < len(id); i++ {
			if id[i] <= ' ' || id[i] >= 0x7f || id[i] == '/' {
				t.Fatalf("accepted id with byte %#x", id[i])
			}
		}
	})
}

// FuzzDecodeDevice reads arbitrary bytes as a device record of the state
// directory: an error or a record, never a panic, and a record that is
// accepted encodes again and renders its twin documents.
func FuzzDecodeDevice(f *testing.F) {
	s := New(nil)
	_, _, _ = s.PutDevice(DeviceSpec{DeviceID: "d"}, "")
	_, _, _ = s.PutModule(ModuleSpec{DeviceID: "d", ModuleID: "m"}, "")
	_, _ = s.UpdateTwin("d", "", TwinPatch{Tags: map[string]any{"a": map[string]any{"b": json.Number("1")}}, Desired: map[string]any{"x": "y"}}, "")
	seed, err := encodeDevice(s.devices["d"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"device":{"DeviceID":"d"},"twin":{"desired":{"meta":null},"reported":{}}}`))
	f.Add([]byte(`{"device":{"DeviceID":"d"},"modules":[{"module":{"DeviceID":"d","ModuleID":"m"},"twin":{"tags":{"k":[1,{"z":null}]}}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeDevice(data, time.Unix(0, 0))
		if err != nil {
			return
		}
		if _, err := encodeDevice(r); err != nil {
			t.Fatalf("an accepted record does not encode again: %v", err)
		}
		_ = deviceTwinDoc(r)
		for _, m := range r.modules {
			_ = moduleTwinDoc(r, m)
		}
	})
}

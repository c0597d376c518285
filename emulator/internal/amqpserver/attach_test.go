package amqpserver

import (
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttachFiltersAndProperties(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	type seen struct {
		selector any
		epoch    any
		params   map[string]string
		name     string
		address  string
	}
	got := make(chan seen, 1)
	require.NoError(t, ts.Handle("{entity}/ConsumerGroups/{cg}/Partitions/{pid}", &Node{
		Outgoing: func(l *OutgoingLink) error {
			sel, _ := l.Filter("apache.org:selector-filter:string")
			epoch, _ := l.Property("com.microsoft:epoch")
			got <- seen{sel, epoch, l.Params(), l.Name(), l.Address()}
			l.SetResponseProperties(map[string]any{"com.microsoft:tracking-id": "t-1"})
			return nil
		},
	}))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	addr := "amqps://127.0.0.1/myhub/ConsumerGroups/$Default/Partitions/3"
	rcv, err := s.NewReceiver(ctx, addr, &amqp.ReceiverOptions{
		Name:       "partition-3",
		Filters:    []amqp.LinkFilter{amqp.NewSelectorFilter("amqp.annotation.x-opt-offset > '100'")},
		Properties: map[string]any{"com.microsoft:epoch": int64(7)},
	})
	require.NoError(t, err)
	g := <-got
	assert.Equal(t, "amqp.annotation.x-opt-offset > '100'", g.selector)
	assert.Equal(t, int64(7), g.epoch)
	assert.Equal(t, map[string]string{"entity": "myhub", "cg": "$Default", "pid": "3"}, g.params)
	assert.Equal(t, "partition-3", g.name)
	assert.Equal(t, addr, g.address)
	assert.Equal(t, "t-1", rcv.Properties()["com.microsoft:tracking-id"])
	assert.Equal(t, "amqp.annotation.x-opt-offset > '100'", rcv.LinkSourceFilterValue("apache.org:selector-filter:string"))
}

func TestRouterPrecedence(t *testing.T) {
	t.Parallel()
	var r router
	nodes := map[string]*Node{}
	for _, p := range []string{
		"/messages/devicebound",
		"/devices/{id}/messages/devicebound",
		"/devices/{id}/modules/{mod}/messages/devicebound",
		"{entity}/ConsumerGroups/{cg}/Partitions/{pid}",
		"messages/events/{rest...}",
		"messages/events/ConsumerGroups/{cg}/Partitions/{pid}",
		"$cbs",
	} {
		nodes[p] = &Node{}
		require.NoError(t, r.add(p, nodes[p]))
	}
	tests := []struct {
		addr    string
		pattern string
		params  map[string]string
	}{
		{"/messages/devicebound", "/messages/devicebound", map[string]string{}},
		{"amqps://hub.azure-devices.net/messages/deviceBound", "/messages/devicebound", map[string]string{}},
		{"/devices/d1/messages/devicebound", "/devices/{id}/messages/devicebound", map[string]string{"id": "d1"}},
		{"devices/d1/modules/m1/messages/devicebound", "/devices/{id}/modules/{mod}/messages/devicebound", map[string]string{"id": "d1", "mod": "m1"}},
		{"hub/ConsumerGroups/$Default/Partitions/0", "{entity}/ConsumerGroups/{cg}/Partitions/{pid}", map[string]string{"entity": "hub", "cg": "$Default", "pid": "0"}},
		{"messages/events/ConsumerGroups/cg/Partitions/1", "messages/events/ConsumerGroups/{cg}/Partitions/{pid}", map[string]string{"cg": "cg", "pid": "1"}},
		{"messages/events/a/b", "messages/events/{rest...}", map[string]string{"rest": "a/b"}},
		{"$cbs", "$cbs", map[string]string{}},
		{"/devices//messages/devicebound", "", nil},
		{"messages/events", "", nil},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		n, params := r.match(tt.addr)
		if tt.pattern == "" {
			assert.Nil(t, n, tt.addr)
			continue
		}
		assert.Same(t, nodes[tt.pattern], n, tt.addr)
		assert.Equal(t, tt.params, params, tt.addr)
	}
	require.Error(t, r.add("/MESSAGES/devicebound", &Node{}), "duplicate patterns are refused")
	require.Error(t, r.add("a/{x...}/b", &Node{}))
	require.Error(t, r.add("a/{x}/{x}", &Node{}))
	require.Error(t, r.add("a/{}", &Node{}))
}

package eventhub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// HubProperties describe the Event Hub-compatible endpoint.
type HubProperties struct {
	// Name is the entity name (the hub's built-in endpoint name).
	Name string
	// CreatedAt is when the entity was created.
	CreatedAt time.Time
	// PartitionIDs are the ids of its partitions, e.g. "0" to "3".
	PartitionIDs []string
}

// PartitionProperties describe one partition.
type PartitionProperties struct {
	// PartitionID is the partition.
	PartitionID string
	// BeginningSequenceNumber is the sequence number of the oldest event
	// still retained.
	BeginningSequenceNumber int64
	// LastEnqueuedSequenceNumber is the sequence number of the newest event
	// (-1 when the partition has never held one).
	LastEnqueuedSequenceNumber int64
	// LastEnqueuedOffset is the offset of the newest event.
	LastEnqueuedOffset string
	// LastEnqueuedTime is when the newest event was enqueued.
	LastEnqueuedTime time.Time
	// IsEmpty tells that the partition holds no event.
	IsEmpty bool
}

// managementLinks is the request/response pair on $management of one
// connection generation.
type managementLinks struct {
	mu      sync.Mutex // one request at a time; properties are rare
	ref     connRef
	session *amqp.Session
	sender  *amqp.Sender
	recv    *amqp.Receiver
	replyTo string
	next    uint64
}

const (
	managementAddress = "$management"
	typeEventHub      = "com.microsoft:eventhub"
	typePartition     = "com.microsoft:partition"
)

// Properties returns the endpoint's name, creation time and partitions.
func (c *Consumer) Properties(ctx context.Context) (*HubProperties, error) {
	v, err := c.manage(ctx, typeEventHub, "")
	if err != nil {
		return nil, err
	}
	p := &HubProperties{}
	p.Name, _ = v["name"].(string)
	p.CreatedAt, _ = v["created_at"].(time.Time)
	switch ids := v["partition_ids"].(type) {
	case []string:
		p.PartitionIDs = ids
	case []any:
		for _, id := range ids {
			p.PartitionIDs = append(p.PartitionIDs, fmt.Sprint(id))
		}
	}
	return p, nil
}

// PartitionProperties returns the sequence numbers, offset and time of a
// partition's oldest and newest events.
func (c *Consumer) PartitionProperties(ctx context.Context, partitionID string) (*PartitionProperties, error) {
	v, err := c.manage(ctx, typePartition, partitionID)
	if err != nil {
		return nil, err
	}
	p := &PartitionProperties{PartitionID: partitionID}
	if s, ok := v["partition"].(string); ok {
		p.PartitionID = s
	}
	p.BeginningSequenceNumber, _ = toInt64(v["begin_sequence_number"])
	p.LastEnqueuedSequenceNumber, _ = toInt64(v["last_enqueued_sequence_number"])
	p.LastEnqueuedOffset = stringOf(v["last_enqueued_offset"])
	p.LastEnqueuedTime, _ = v["last_enqueued_time_utc"].(time.Time)
	p.IsEmpty, _ = v["is_partition_empty"].(bool)
	return p, nil
}

// manage sends one READ and returns the answer's body, recovering links
// and connections as receivers do.
func (c *Consumer) manage(ctx context.Context, typ, partition string) (map[string]any, error) {
	for attempt := 0; ; attempt++ {
		v, err := c.manageOnce(ctx, typ, partition)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ref := c.mgmt.drop()
		var he *iothub.Error
		if errors.As(err, &he) {
			if !iothub.IsRetriable(he) {
				return nil, err
			}
		} else {
			act := amqpconn.Classify(err)
			switch {
			case condition(err) == amqp.ErrCondLinkRedirect && ref.ep != nil:
				c.forget(ref.ep) // the endpoint moved: ask the hub again
			case act == amqpconn.Fatal:
				return nil, linkError(err)
			case act == amqpconn.RecreateConn:
				ref.reset()
			}
		}
		if attempt >= c.maxRetries() {
			return nil, linkError(err)
		}
		if err := iothub.Sleep(ctx, c.backoff(attempt+1)); err != nil {
			return nil, err
		}
	}
}

func (c *Consumer) manageOnce(ctx context.Context, typ, partition string) (map[string]any, error) {
	m := &c.mgmt
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sender == nil {
		s, ref, err := c.session(ctx, 0)
		m.ref = ref
		if err != nil {
			return nil, err
		}
		replyTo := "mgmt-" + randomName()
		recv, err := s.NewReceiver(ctx, managementAddress, &amqp.ReceiverOptions{TargetAddress: replyTo, Credit: 10})
		if err != nil {
			closeQuietly(s.Close)
			return nil, err
		}
		sender, err := s.NewSender(ctx, managementAddress, nil)
		if err != nil {
			closeQuietly(s.Close)
			return nil, err
		}
		m.session, m.sender, m.recv, m.replyTo = s, sender, recv, replyTo
	}
	m.next++
	id := m.replyTo + "-" + strconv.FormatUint(m.next, 10)
	props := map[string]any{"operation": "READ", "name": m.ref.ep.entity, "type": typ}
	if partition != "" {
		props["partition"] = partition
	}
	req := &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: id, ReplyTo: &m.replyTo},
		ApplicationProperties: props,
		Value:                 nil,
	}
	if err := m.sender.Send(ctx, req, nil); err != nil {
		return nil, err
	}
	for {
		resp, err := m.recv.Receive(ctx, nil)
		if err != nil {
			return nil, err
		}
		_ = m.recv.AcceptMessage(ctx, resp)
		if resp.Properties != nil && resp.Properties.CorrelationID != nil && fmt.Sprint(resp.Properties.CorrelationID) != id {
			continue // the answer to an abandoned request
		}
		code, _ := toInt64(resp.ApplicationProperties["status-code"])
		desc, _ := resp.ApplicationProperties["status-description"].(string)
		if code < 200 || code > 299 {
			return nil, managementError(int(code), desc)
		}
		body, _ := resp.Value.(map[string]any)
		if body == nil {
			if mm, ok := resp.Value.(map[any]any); ok {
				body = make(map[string]any, len(mm))
				for k, v := range mm {
					body[fmt.Sprint(k)] = v
				}
			}
		}
		if body == nil {
			return nil, fmt.Errorf("iothub: $management answered %s with no properties", typ)
		}
		return body, nil
	}
}

// drop forgets the management links (after a failure) and returns the
// connection they were on.
func (m *managementLinks) drop() connRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := m.ref
	if m.session != nil {
		go closeQuietly(m.session.Close)
	}
	m.session, m.sender, m.recv, m.ref = nil, nil, nil, connRef{}
	return ref
}

func managementError(code int, desc string) error {
	e := &iothub.Error{StatusCode: code, Message: desc}
	switch code {
	case 401:
		e.Code, e.Name = iothub.CodeIotHubUnauthorizedAccess, iothub.CodeIotHubUnauthorizedAccess.String()
	case 404:
		e.Name = "NotFound"
	case 503:
		e.Code, e.Name = iothub.CodeServiceUnavailable, iothub.CodeServiceUnavailable.String()
	}
	return e
}

func (c *Consumer) maxRetries() int { return c.opts.Retry.WithDefaults().MaxRetries }

func (c *Consumer) backoff(retry int) time.Duration {
	return c.opts.Retry.WithDefaults().Backoff(retry, 0)
}

package eventhubs

import (
	"log/slog"
	"strings"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// DefaultConsumerGroup is the consumer group every hub has.
const DefaultConsumerGroup = "$Default"

// Options configures a Hub. A nil *Options accepts the defaults.
type Options struct {
	// EntityName is the name of the Event Hub-compatible entity: the first
	// segment of partition link addresses and the EntityPath of the
	// endpoint's connection string. Addresses match it case-insensitively.
	// Default: "iothub".
	EntityName string

	// Partitions is the number of partitions, with ids "0" to "Partitions-1".
	// IoT Hub allows 2 to 128, and a hub keeps the count it was created
	// with: Open refuses a DB that holds a hub with another count.
	// Default: 4.
	Partitions int

	// ConsumerGroups lists the consumer groups besides $Default, which is
	// always there. Names match case-insensitively, as in Event Hubs. With
	// a DB, the hub also keeps every group a previous run had.
	// Default: none.
	ConsumerGroups []string

	// Retention is how long an event stays readable after it was enqueued.
	// Default: 24 hours (IoT Hub's default of one day).
	Retention time.Duration

	// MaxBytes bounds the encoded size of the events each partition keeps;
	// the oldest events are dropped first, so a slow reader loses them as it
	// would once they expire. Zero means the default; negative means no bound.
	// Default: 256 MiB per partition.
	MaxBytes int64

	// AdvertiseHost is the host name of the Event Hub-compatible endpoint
	// that the amqp:link:redirect sent for messages/events carries in its
	// hostname and network-host fields.
	// Default: "localhost".
	AdvertiseHost string

	// AdvertisePort is the AMQP port the redirect carries.
	// Default: 5671.
	AdvertisePort int

	// AdvertisePlain makes the redirect's address amqp:// instead of
	// amqps://, for an endpoint served over plain TCP: some clients dial
	// what the address says rather than the hostname and port fields.
	// Default: false (amqps://, as IoT Hub sends).
	AdvertisePlain bool

	// Authorize is asked before every partition link or messages/events
	// attach and every $management request, with the connection and the
	// address the client used: "<entity>/ConsumerGroups/<cg>/Partitions/<id>"
	// or "messages/events/…" as sent (an "amqps://host" prefix included),
	// and "<EntityName>/$management" for every management request, whichever
	// of the two management addresses the client attached to. A non-nil
	// error refuses: an *amqpserver.Error chooses the attach's condition
	// (other errors become amqp:unauthorized-access), and any error becomes
	// status 401 with the error's text for a management request.
	// Default: nil (everything is allowed).
	Authorize func(conn *amqpserver.Conn, address string) error

	// AuthorizeLink, when set, is asked instead of Authorize for every
	// attach (partition receivers and messages/events), with the link
	// itself, so that the caller can keep watching it: a claims-based
	// security node detaches the links whose token expires. Management
	// requests still go to Authorize.
	// Default: nil (attaches go to Authorize).
	AuthorizeLink func(l *amqpserver.Link) error

	// DB is the state directory that keeps the partitions (the events
	// within retention and the counters that number them), the creation
	// time and the consumer groups across restarts: Open loads what a
	// previous run kept, and Append returns once its event is on disk;
	// readers see an event only then. The hub does not close DB; close it
	// after Hub.Close.
	// Default: nil (nothing is kept).
	DB *persist.DB

	// Now is the clock used for enqueued times and retention.
	// Default: time.Now.
	Now func() time.Time

	// Logger receives link-level events.
	// Default: a logger that discards everything.
	Logger *slog.Logger
}

const (
	defaultEntityName = "iothub"
	defaultPartitions = 4
	defaultRetention  = 24 * time.Hour
	defaultMaxBytes   = 256 << 20
	defaultPort       = 5671
)

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.EntityName == "" {
		v.EntityName = defaultEntityName
	}
	if v.Partitions <= 0 {
		v.Partitions = defaultPartitions
	}
	if v.Retention <= 0 {
		v.Retention = defaultRetention
	}
	if v.MaxBytes == 0 {
		v.MaxBytes = defaultMaxBytes
	}
	if v.AdvertiseHost == "" {
		v.AdvertiseHost = "localhost"
	}
	if v.AdvertisePort <= 0 {
		v.AdvertisePort = defaultPort
	}
	if v.Now == nil {
		v.Now = time.Now
	}
	if v.Logger == nil {
		v.Logger = slog.New(slog.DiscardHandler)
	}
	groups := []string{DefaultConsumerGroup}
	for _, g := range v.ConsumerGroups {
		if g != "" && !containsFold(groups, g) {
			groups = append(groups, g)
		}
	}
	v.ConsumerGroups = groups
	return v
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

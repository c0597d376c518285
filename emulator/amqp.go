package emulator

// EventHubConnectionString returns the connection string of the hub's
// built-in Event Hub-compatible endpoint, for the iothubowner policy: what
// the portal shows under Built-in endpoints, pointing at this emulator.
func (e *Emulator) EventHubConnectionString() string {
	p, _ := e.policy("iothubowner")
	return e.eventHubConnectionString(p)
}

func (e *Emulator) eventHubConnectionString(p Policy) string {
	s := "Endpoint=sb://" + e.HostName() + "/;SharedAccessKeyName=" + p.Name + ";SharedAccessKey=" + p.PrimaryKey + ";EntityPath=" + e.hub.HubName()
	if !e.tls {
		s += ";UseDevelopmentEmulator=true"
	}
	return s
}

// PartitionIDs returns the ids of the built-in endpoint's partitions.
func (e *Emulator) PartitionIDs() []string { return e.hub.Events().PartitionIDs() }

// DropAMQPConnections closes every AMQP connection to the emulator, as a
// network failure or a hub failover would; clients must recover. It
// returns how many it closed.
func (e *Emulator) DropAMQPConnections() int {
	return e.amqp.DropConnections()
}

// DetachTelemetryReceivers detaches every receiver of the built-in endpoint
// with condition (such as "com.microsoft:server-busy" or
// "amqp:link:detach-forced"), and returns how many it detached.
func (e *Emulator) DetachTelemetryReceivers(condition string) int {
	return e.hub.Events().DetachReceivers(condition, "detached by the emulator's fault injection")
}

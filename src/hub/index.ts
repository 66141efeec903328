// The push hub (topics, subscribers, history, the Mercure endpoints) arrives with issue #5.
export {}

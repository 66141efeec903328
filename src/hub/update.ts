/** What a publisher sends: one update for one or more topics (Mercure "update"). */
export interface NewUpdate {
  /** The publisher's own id, unique in the store; the store makes one (urn:uuid:…) when absent. */
  id?: string
  topics: string[]
  data: string
  /** The SSE event type. */
  type?: string
  retry?: number
  /** Delivered only to subscribers authorised for one of its topics. */
  private: boolean
}

/** An update as committed: its id, and its place in the store's one global order. */
export interface StoredUpdate extends NewUpdate {
  id: string
  /** Position in the global order; every node of a deployment sees the same. */
  sequence: number
  /** Milliseconds since the epoch. */
  publishedAt: number
}

export {
  AuthorizationError,
  type Claims,
  secretKey,
  signToken,
  tokenOf,
  type VerificationKey,
  verifyToken,
} from './authorization.js'
export { encodeUpdate, Hub } from './hub.js'
export { createMercureHandler, type MercureOptions } from './mercure-http.js'
export { checkMediaType, PublishError, parsePublishBody } from './publish-request.js'
export { MemoryStore } from './store/memory.js'
export { RedisStore, type RedisStoreOptions } from './store/redis.js'
export { SqliteStore } from './store/sqlite.js'
export {
  DuplicateIdError,
  type HistoryBounds,
  type HistoryPage,
  type ResumePoint,
  StoreUnavailableError,
  type UpdateStore,
} from './store/store.js'
export { Subscriber } from './subscriber.js'
export {
  exactSelector,
  SelectorError,
  selectorMatches,
  type TopicSelector,
  uriTemplateSelector,
  urlPatternSelector,
} from './topic-selector.js'
export type { NewUpdate, StoredUpdate } from './update.js'

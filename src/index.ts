export * from './gateway/index.js'
export * from './protocol/index.js'

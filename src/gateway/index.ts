export { createGateway, type Gateway } from './app.js'
export { ConfigError, type GatewayConfig, type GatewayConfigInput, parseGatewayConfig } from './config.js'

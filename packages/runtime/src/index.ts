export * from './catalog-file.js';
export * from './env.js';
export * from './logger.js';
export * from './metrics.js';
export * from './secrets.js';
export * from './ssrf.js';
export * from './database.js';
export * from './service-fetch.js';

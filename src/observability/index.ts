/** Public surface of observability: the redacting logger, what an error may put in a log line, the metrics. */
export { createLogger, type Logger } from './logger.js';
export { loggableError } from './loggable-error.js';
export { Metrics } from './metrics.js';

/**
 * Accepted requests of one socket (a customer's, a dashboard's) not answered
 * yet. Requests are taken within the socket's message rate but may each take
 * longer than it allows (a slow join, a graceful end, a history query): this
 * bounds what one socket can queue behind them.
 */
export const MAX_REQUESTS_IN_FLIGHT = 8;

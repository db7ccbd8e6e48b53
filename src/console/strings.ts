/**
 * The console's words, in one place so that they can be translated (an Urdu table would
 * sit beside this one with the same keys). Pages use these for headings, labels and
 * navigation; sentences built from data live with the data (plain.ts, overview.ts).
 */
export const EN = {
  product: 'darwaza console',
  skip: 'Skip to the content',
  overview: 'Overview',
  messages: 'Messages',
  consents: 'Consents',
  audit: 'Audit',
  policy: 'Policy',
  signIn: 'Sign in',
  signOut: 'Sign out',
  token: 'API token',
  tokenHelp: 'Paste an API token made with `darwaza tokens create`. It is kept in a cookie for this browser session only.',
  actions: 'Needs a person',
  noActions: 'Nothing needs you: data is flowing.',
  destinations: 'Destinations',
  health: 'Appliance health',
  recent: 'Latest messages',
  throughput: 'Delivered per minute',
  depth: 'Waiting in the queue',
  filter: 'Filter',
  reason: 'Reason',
  retry: 'Retry',
  purge: 'Purge',
  withdraw: 'Withdraw',
  search: 'Search',
  verifyNow: 'Verify now',
  forbidden: 'You do not have the rights for this page',
} as const;

export type StringKey = keyof typeof EN;
export const t = (k: StringKey): string => EN[k];

/** HTTP status reasons the uplink errors name. */
export const STATUS_TEXT: Record<number, string> = {
  400: 'bad request: the recipient rejected the message',
  401: 'unauthorized: the recipient does not accept our credentials',
  403: 'forbidden: the recipient refuses us',
  404: 'not found: wrong recipient address',
  408: 'request timeout',
  409: 'conflict: already received',
  410: 'gone: the recipient address no longer exists',
  413: 'too large for the recipient',
  415: 'the recipient does not accept this format',
  422: 'the recipient could not process the message',
  429: 'too many requests: the recipient asks us to slow down',
  500: 'the recipient had an internal error',
  502: "bad gateway in front of the recipient",
  503: 'the recipient is unavailable',
  504: "gateway timeout in front of the recipient",
};

/**
 * Cuts `list` to its first `n` entries with pop(). V8 keeps the storage of a small array (up to
 * 16 slots) emptied so, where `length = n` frees it and the next push grows a new 17-slot one:
 * lists that a ping-pong empties and refills every round trip use this (issue 13).
 */
export function truncateKeepingRoom(list: unknown[], n = 0): void {
  while (list.length > n) list.pop()
}

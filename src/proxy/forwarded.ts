import { trimOws } from '../shared/http-syntax.ts'

// Knative's Forwarded shim (pkg/queue/forwarded_shim.go): when a request has no `Forwarded`
// header but has X-Forwarded-For/-Proto/-Host, synthesize
//   Forwarded: for=<xff[0]>;host=<xfh>;proto=<xfp>, for=<xff[1]>, ...
// IPv6 nodes (anything with a colon) are quoted as "[addr]". `by` is never produced.
// Nodes are cut as Go's consumeNode cuts them: a node ends at a comma, and a comma at the very end
// starts no node (",,," is three nodes, "a," one). Go trims them with strings.TrimSpace; a valid
// field value holds no whitespace but SP and HTAB, which is what trimOws trims (String.trim would
// also take an obs-text 0xA0 byte, which Go keeps).

function writeNode (node: string): string {
  return node.includes(':') ? `"[${node}]"` : node
}

/** Returns the synthesized header value; callers only call it when one of the inputs is non-empty. */
export function generateForwarded (xff: string, xfp: string, xfh: string): string {
  let end = xff.indexOf(',')
  if (end < 0) end = xff.length
  const first = trimOws(xff.slice(0, end))
  let out = ''
  if (xff !== '') out += 'for=' + writeNode(first)
  if (xfh !== '') {
    if (first !== '') out += ';'
    out += 'host=' + xfh
  }
  if (xfp !== '') {
    if (first !== '' || xfh !== '') out += ';'
    out += 'proto=' + xfp
  }
  for (let next = end + 1; next < xff.length; next = end + 1) {
    end = xff.indexOf(',', next)
    if (end < 0) end = xff.length
    out += ', for=' + writeNode(trimOws(xff.slice(next, end)))
  }
  return out
}

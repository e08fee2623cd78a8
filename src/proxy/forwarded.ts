// Knative's Forwarded shim (pkg/queue/forwarded_shim.go): when a request has no `Forwarded`
// header but has X-Forwarded-For/-Proto/-Host, synthesize
//   Forwarded: for=<xff[0]>;host=<xfh>;proto=<xfp>, for=<xff[1]>, ...
// IPv6 nodes (anything with a colon) are quoted as "[addr]". `by` is never produced.

function writeNode (node: string): string {
  return node.includes(':') ? `"[${node}]"` : node
}

/** Returns the synthesized header value; callers only call it when one of the inputs is non-empty. */
export function generateForwarded (xff: string, xfp: string, xfh: string): string {
  const nodes = xff === '' ? [] : xff.split(',')
  const first = nodes.length > 0 ? (nodes[0] ?? '').trim() : ''
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
  for (let i = 1; i < nodes.length; i++) out += ', for=' + writeNode((nodes[i] ?? '').trim())
  return out
}

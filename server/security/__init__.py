"""Security as pure logic: scopes, tokens, principals, the access policy and the audit shapes.

Nothing here does I/O: the interactions layer fetches the facts (involvements, agreements,
registered clients) and asks these modules for decisions and documents.
"""

"""Call distribution: contacts follow their deal's responsible, and the answer to «whose client is calling»."""

"""How requests travel: the aiohttp transport and the courier process behind one boundary."""

"""Print the API's OpenAPI schema: ``python -m tandem.openapi > backend/openapi.json``.

The front end generates its TypeScript client from that file, and CI fails
when it is stale. Building the schema opens no connection, so the database
URL below only has to parse.
"""

import json
import sys

from tandem.config import Settings
from tandem.main import create_app


def main() -> None:
    settings = Settings(database_url="postgresql://schema-export@127.0.0.1/unused")
    schema = create_app(settings).openapi()
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

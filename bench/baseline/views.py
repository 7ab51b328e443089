"""Baselines: the least Django can do for a JSON answer, and the bare cast transaction on the
application's own tables (lock the credential, insert into the inbox, mark the code used)."""

import json
import os
import uuid

from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ballots import codes, keys, sealed

_keys = {}


def _key_id(poll_id):
    if poll_id not in _keys:
        _keys[poll_id] = keys.ensure_current_key(poll_id)[0]
    return _keys[poll_id]


def minimal_json(request):
    return JsonResponse({"ok": True})


@csrf_exempt
def bare_cast(request, poll_id):
    payload = json.loads(request.body)
    code_hash = codes.hash_code(codes.normalize_code(payload["code"]))
    tracker_hash = codes.hash_tracker(codes.normalize_tracker(codes.new_tracker()))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id, used FROM ballots_credential WHERE code_hash = %s FOR UPDATE", [code_hash])
        row = cursor.fetchone()
        if row is None or row[1]:
            return JsonResponse({"error": "code"}, status=409)
        # A row of the inbox's shape: the sealed ballot's length, without sealing (that is our cost).
        cursor.execute(
            "INSERT INTO ballots_inboxballot (id, poll_id, key_id, sealed) VALUES (%s, %s, %s, %s)",
            [uuid.UUID(bytes=os.urandom(16), version=4), poll_id, _key_id(poll_id),
             int(payload["option"]).to_bytes(8, "big") + tracker_hash + os.urandom(sealed.SEALED_LENGTH - 40)],
        )
        cursor.execute("UPDATE ballots_credential SET used = true WHERE id = %s", [row[0]])
    return JsonResponse({"tracker": "-"}, status=201)

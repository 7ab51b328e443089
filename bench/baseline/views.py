"""Baselines: the least Django can do for a JSON answer, and the bare cast transaction on the
application's own tables (lock the credential, insert into the inbox, mark the code used)."""

import json
import os
import uuid

from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ballots import codes


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
        cursor.execute(
            "INSERT INTO ballots_inboxballot (id, poll_id, option_id, tracker_hash) VALUES (%s, %s, %s, %s)",
            [uuid.UUID(bytes=os.urandom(16), version=4), poll_id, int(payload["option"]), tracker_hash],
        )
        cursor.execute("UPDATE ballots_credential SET used = true WHERE id = %s", [row[0]])
    return JsonResponse({"tracker": "-"}, status=201)

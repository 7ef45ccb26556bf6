## ক্রেডিট আর গিভঅ্যাওয়ে কোড

credits-balance = আপনার কাছে { $balance }টি ক্রেডিট আছে। প্রতিটি ছবিতে { $cost }টি ক্রেডিট লাগে।
credits-plan = আপনার প্ল্যান: { $plan }, মেয়াদ { $until } পর্যন্ত।
credits-recent = সাম্প্রতিক:
credits-entry = • { $date }: { $kind ->
        [signup] +{ $amount } স্বাগতম উপহার
        [grant] +{ $amount } Nexoraz সাপোর্ট থেকে
        [redeem] +{ $amount } গিভঅ্যাওয়ে কোড
        [purchase] +{ $amount } কেনা হয়েছে
        [refund] +{ $amount } ব্যর্থ ছবির টাকা ফেরত
        [purchase_refund] −{ $amount } কেনা ক্রেডিট ফেরত
        [not_right] +{ $amount } ঠিক না হওয়া ছবির ক্রেডিট ফেরত
        [doubtful] +{ $amount } কঠিন ছবি, ক্রেডিট কাটা হয়নি
        [link] −{ $amount } দ্বিতীয় স্বাগতম উপহার ফেরত (চ্যাট যুক্ত করা হয়েছে)
       *[debit] −{ $amount } ছবি তৈরি
    }
credits-get-more = আরও লাগবে? /buy লিখে প্যাক কিনুন।{ $more }
credits-not-enough = এই ছবির জন্য যথেষ্ট ক্রেডিট নেই: আপনার আছে { $balance }টি, লাগবে { $cost }টি।{ $more }

redeem-how = গিভঅ্যাওয়ে কোডটা এভাবে পাঠান: রিডিম NX7K-3P9Q
redeem-ok = 🎉 কোড গ্রহণ করা হয়েছে: { $credits }টি ক্রেডিট যোগ হলো। এখন আপনার ব্যালেন্স { $balance }টি ক্রেডিট।
redeem-rejected = কোডটা সঠিক নয়, অথবা আগেই ব্যবহার করা হয়েছে। একবার মিলিয়ে দেখে আবার চেষ্টা করুন।
redeem-malformed = এটা গিভঅ্যাওয়ে কোডের মতো দেখাচ্ছে না। কোড দেখতে এমন হয়: NX7K-3P9Q (অক্ষর আর সংখ্যা)।
redeem-too-many = অনেকবার ভুল কোড দেওয়া হয়েছে। এক ঘণ্টা পরে আবার চেষ্টা করুন।
